//! The states of a stack and of its resources, with CloudFormation's
//! spellings, as they are stored in the database and sent by the API.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// A stack's or a resource's status. Every spelling is CloudFormation's
/// except `CREATE_PENDING`, airlock's own for a resource not yet started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StackStatus {
    /// A resource of a new stack that creation has not reached yet.
    CreatePending,
    CreateInProgress,
    CreateComplete,
    CreateFailed,
    RollbackInProgress,
    RollbackComplete,
    DeleteInProgress,
    DeleteComplete,
    DeleteFailed,
}

impl StackStatus {
    pub const ALL: [StackStatus; 9] = [
        StackStatus::CreatePending,
        StackStatus::CreateInProgress,
        StackStatus::CreateComplete,
        StackStatus::CreateFailed,
        StackStatus::RollbackInProgress,
        StackStatus::RollbackComplete,
        StackStatus::DeleteInProgress,
        StackStatus::DeleteComplete,
        StackStatus::DeleteFailed,
    ];

    /// The status as CloudFormation spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            StackStatus::CreatePending => "CREATE_PENDING",
            StackStatus::CreateInProgress => "CREATE_IN_PROGRESS",
            StackStatus::CreateComplete => "CREATE_COMPLETE",
            StackStatus::CreateFailed => "CREATE_FAILED",
            StackStatus::RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            StackStatus::RollbackComplete => "ROLLBACK_COMPLETE",
            StackStatus::DeleteInProgress => "DELETE_IN_PROGRESS",
            StackStatus::DeleteComplete => "DELETE_COMPLETE",
            StackStatus::DeleteFailed => "DELETE_FAILED",
        }
    }

    /// Work on the stack was under way (`*_IN_PROGRESS`): after a restart
    /// nothing is doing it any more.
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            StackStatus::CreateInProgress
                | StackStatus::RollbackInProgress
                | StackStatus::DeleteInProgress
        )
    }

    /// A resource in this state has nothing to delete: creation never
    /// reached it, or it is already deleted.
    pub fn nothing_to_delete(self) -> bool {
        matches!(
            self,
            StackStatus::CreatePending | StackStatus::DeleteComplete
        )
    }
}

impl fmt::Display for StackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a stack status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stack status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for StackStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StackStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

impl ToSql for StackStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for StackStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_through_serde_sql_and_text() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for s in StackStatus::ALL {
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, serde_json::json!(s.as_str()));
            assert_eq!(serde_json::from_value::<StackStatus>(json).unwrap(), s);
            assert_eq!(s.to_string().parse::<StackStatus>().unwrap(), s);
            let text: String = conn.query_row("SELECT ?1", [s], |r| r.get(0)).unwrap();
            assert_eq!(text, s.as_str());
            let back: StackStatus = conn
                .query_row("SELECT ?1", [s.as_str()], |r| r.get(0))
                .unwrap();
            assert_eq!(back, s);
        }
        assert!("NOT_A_STATUS".parse::<StackStatus>().is_err());
        let bad: rusqlite::Result<StackStatus> = conn.query_row("SELECT 'NOPE'", [], |r| r.get(0));
        assert!(bad.is_err());
    }

    #[test]
    fn questions() {
        assert!(StackStatus::DeleteInProgress.in_progress());
        assert!(StackStatus::RollbackInProgress.in_progress());
        assert!(!StackStatus::CreateComplete.in_progress());
        assert!(StackStatus::CreatePending.nothing_to_delete());
        assert!(!StackStatus::CreateFailed.nothing_to_delete());
    }
}
