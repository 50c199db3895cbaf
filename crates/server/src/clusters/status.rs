//! The states of a stack and of its resources, with CloudFormation's
//! spellings, as they are stored in the database and sent by the API.

crate::text_enum! {
    /// A stack's or a resource's status. Every spelling is CloudFormation's
    /// except `CREATE_PENDING`, airlock's own for a resource not yet started.
    pub enum StackStatus {
        /// A resource of a new stack that creation has not reached yet.
        CreatePending = "CREATE_PENDING",
        CreateInProgress = "CREATE_IN_PROGRESS",
        CreateComplete = "CREATE_COMPLETE",
        CreateFailed = "CREATE_FAILED",
        RollbackInProgress = "ROLLBACK_IN_PROGRESS",
        RollbackComplete = "ROLLBACK_COMPLETE",
        DeleteInProgress = "DELETE_IN_PROGRESS",
        DeleteComplete = "DELETE_COMPLETE",
        DeleteFailed = "DELETE_FAILED",
        UpdateInProgress = "UPDATE_IN_PROGRESS",
        UpdateComplete = "UPDATE_COMPLETE",
        UpdateRollbackInProgress = "UPDATE_ROLLBACK_IN_PROGRESS",
        UpdateRollbackComplete = "UPDATE_ROLLBACK_COMPLETE",
    }
}

crate::text_enum! {
    /// The compute fleet's status, as pcluster 3 spells it
    /// (`update-compute-fleet`, `describe-compute-fleet`).
    pub enum ComputeFleetStatus {
        StartRequested = "START_REQUESTED",
        Starting = "STARTING",
        Running = "RUNNING",
        StopRequested = "STOP_REQUESTED",
        Stopping = "STOPPING",
        Stopped = "STOPPED",
    }
}

impl StackStatus {
    /// Work on the stack was under way (`*_IN_PROGRESS`): after a restart
    /// nothing is doing it any more.
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            StackStatus::CreateInProgress
                | StackStatus::RollbackInProgress
                | StackStatus::DeleteInProgress
                | StackStatus::UpdateInProgress
                | StackStatus::UpdateRollbackInProgress
        )
    }

    /// A stack that was built and is not being changed: the fleet manager
    /// looks after it, and it may be updated.
    pub fn settled(self) -> bool {
        matches!(
            self,
            StackStatus::CreateComplete
                | StackStatus::UpdateComplete
                | StackStatus::UpdateRollbackComplete
        )
    }

    /// An update is under way.
    pub fn updating(self) -> bool {
        matches!(
            self,
            StackStatus::UpdateInProgress | StackStatus::UpdateRollbackInProgress
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

impl ComputeFleetStatus {
    /// Slurm's partitions are INACTIVE: stopping or stopped.
    pub fn partitions_inactive(self) -> bool {
        matches!(
            self,
            ComputeFleetStatus::StopRequested
                | ComputeFleetStatus::Stopping
                | ComputeFleetStatus::Stopped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_sent_stored_and_read_back() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for &s in StackStatus::ALL {
            assert_eq!(s.in_progress(), s.as_str().ends_with("_IN_PROGRESS"));
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, serde_json::json!(s.as_str()));
            assert_eq!(StackStatus::parse(&s.to_string()), Some(s));
            let text: String = conn.query_row("SELECT ?1", [s], |r| r.get(0)).unwrap();
            assert_eq!(text, s.as_str());
            let back: StackStatus = conn
                .query_row("SELECT ?1", [s.as_str()], |r| r.get(0))
                .unwrap();
            assert_eq!(back, s);
        }
        assert_eq!(StackStatus::parse("NOT_A_STATUS"), None);
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
