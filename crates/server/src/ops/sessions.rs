//! Session operations: `ssm:StartSession` (as named steps),
//! `ssm:TerminateSession`, `ssm:DescribeSessions`, the preferences document
//! and `GetSessionRecording` (`airlock:ReplaySession`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Allowed, Ctx, Operation, Resource};
use crate::api_error::{ApiError, ErrorCode};
use crate::iam::ids;
use crate::iam::tag_context::TagContext;
use crate::instances::control::instance_arn;
use crate::instances::{ServerMessage, StartSession, store as instances};
use crate::op;
use crate::sessions::{documents, preferences, store};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartIn {
    target: String,
    #[serde(default)]
    document_name: Option<String>,
    #[serde(default)]
    parameters: documents::Parameters,
    #[serde(default)]
    reason: Option<String>,
    /// The instance the decision was made on: the session goes there, even
    /// if the name now resolves elsewhere.
    #[serde(skip)]
    decided_on: std::cell::OnceCell<instances::InstanceIdentity>,
}

impl StartIn {
    fn document(&self) -> &str {
        self.document_name
            .as_deref()
            .unwrap_or(documents::RUN_SHELL)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdIn {
    session_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeIn {
    #[serde(default)]
    state: Option<String>,
    /// One session, active or ended.
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DocIn {
    name: String,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecordingIn {
    session_id: String,
    /// The byte offset a previous page returned.
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    max_bytes: Option<u64>,
    /// Grant a streamed download instead of returning a page.
    #[serde(default)]
    stream: bool,
}

pub fn session_arn(ctx: &Ctx<'_>, account: &str, id: &str) -> String {
    format!("arn:aws:ssm:{}:{account}:session/{id}", ctx.state.region)
}

/// The session a request names, as a resource.
fn session(ctx: &Ctx<'_>, id: &str) -> Result<Vec<Resource>, ApiError> {
    let s = store::get(ctx.conn, id)?;
    let account = crate::iam::store::account_id(ctx.conn)?;
    Ok(vec![Resource::arn(session_arn(
        ctx,
        &account,
        &s.session_id,
    ))])
}

pub const OPERATIONS: &[Operation] = &[
    op!(
        "ssm",
        "StartSession",
        "ssm:StartSession",
        target_and_document,
        start_session
    ),
    op!(
        "ssm",
        "TerminateSession",
        "ssm:TerminateSession",
        |ctx, i: &IdIn| session(ctx, &i.session_id),
        terminate_session
    ),
    op!(
        "ssm",
        "DescribeSessions",
        "ssm:DescribeSessions",
        |_, _: &DescribeIn| Ok(vec![Resource::any()]),
        describe_sessions
    ),
    op!(
        "ssm",
        "GetDocument",
        "ssm:GetDocument",
        preferences_document,
        |a, _| show_preferences(a)
    ),
    op!(
        "ssm",
        "UpdateDocument",
        "ssm:UpdateDocument",
        preferences_document,
        update_preferences
    ),
    op!(
        "ssm",
        "GetSessionRecording",
        "airlock:ReplaySession",
        |ctx, i: &RecordingIn| session(ctx, &i.session_id),
        session_recording
    ),
];

/// StartSession acts on the target instance (with its tags) and on the
/// session document; both must be allowed.
fn target_and_document(ctx: &Ctx<'_>, i: &StartIn) -> Result<Vec<Resource>, ApiError> {
    let target = instances::resolve_target(ctx.conn, &i.target)?;
    let account = crate::iam::store::account_id(ctx.conn)?;
    let arn = instance_arn(&ctx.state.region, &account, &target);
    let tags = TagContext::resource(&instances::tags(ctx.conn, &target.instance_id)?);
    let doc_arn = format!(
        "arn:aws:ssm:{}::document/{}",
        ctx.state.region,
        i.document()
    );
    let _ = i.decided_on.set(target);
    Ok(vec![Resource::tagged(arn, tags), Resource::arn(doc_arn)])
}

/// StartSession, once allowed: check the parameters and the node, choose
/// the login, record the session, hand the node its grant.
fn start_session(a: &Allowed<'_, '_>, i: StartIn) -> Result<Value, ApiError> {
    let target = i
        .decided_on
        .get()
        .ok_or_else(|| ApiError::internal("StartSession ran without its decision"))?;
    let params = documents::validate(i.document(), &i.parameters)?;
    require_online(a, target)?;
    let prefs = preferences::load(a.conn)?;
    let run_as = run_as_user(a, &prefs)?;
    let new = record_session(a, &i, target, &params, run_as)?;
    hand_grant_to_node(a, &target.instance_id, &new, &prefs)?;
    Ok(json!({
        "SessionId": new.session_id,
        "TokenValue": new.client_token,
        "StreamUrl": format!("/v1/session/{}/stream", new.session_id),
        "Target": target.instance_id,
        "DocumentName": i.document(),
        "Parameters": new.grant.parameters,
        "RunAs": new.grant.run_as,
    }))
}

fn not_connected(instance_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::TargetNotConnected,
        format!("{instance_id} is not connected."),
    )
}

fn require_online(
    a: &Allowed<'_, '_>,
    target: &instances::InstanceIdentity,
) -> Result<(), ApiError> {
    if a.state.hub.is_online(&target.instance_id) {
        Ok(())
    } else {
        Err(not_connected(&target.instance_id))
    }
}

/// The login the session runs as: none (the node's default) unless Run As
/// is on, then the caller's `SSMSessionRunAs` tag or `runAsDefaultUser`.
fn run_as_user(
    a: &Allowed<'_, '_>,
    prefs: &preferences::Preferences,
) -> Result<Option<String>, ApiError> {
    if !prefs.run_as_enabled {
        return Ok(None);
    }
    let tagged = a
        .caller
        .tags
        .iter()
        .find(|t| t.key == "SSMSessionRunAs")
        .map(|t| t.value.clone());
    let user = tagged.or_else(|| Some(prefs.run_as_default_user.clone()).filter(|u| !u.is_empty()));
    user.map(Some).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidUser,
            format!(
                "Run As is on, but user {} has no SSMSessionRunAs tag and no runAsDefaultUser is set.",
                a.caller.user_name
            ),
        )
    })
}

/// A session as recorded: its id, the client's token, and the grant the
/// node gets (with the agent's token).
struct NewSession {
    session_id: String,
    client_token: String,
    grant: StartSession,
}

fn record_session(
    a: &Allowed<'_, '_>,
    i: &StartIn,
    target: &instances::InstanceIdentity,
    params: &documents::Parameters,
    run_as: Option<String>,
) -> Result<NewSession, ApiError> {
    let session_id = format!("{}-{}", a.caller.user_name, &ids::random_hex(9)[..17]);
    let (client_token, agent_token) = (ids::random_hex(32), ids::random_hex(32));
    let parameters = serde_json::to_value(params)
        .map_err(|e| ApiError::internal_because("encoding the session parameters", e))?;
    store::create(
        a.conn,
        &store::NewSession {
            session_id: &session_id,
            owner: &a.caller.user_name,
            owner_arn: &a.caller.arn,
            target: &target.instance_id,
            document_name: i.document(),
            parameters: &parameters,
            run_as: run_as.as_deref(),
            reason: i.reason.as_deref(),
            client_token: &client_token,
            agent_token: &agent_token,
        },
    )?;
    Ok(NewSession {
        grant: StartSession {
            session_id: session_id.clone(),
            token: agent_token,
            document_name: i.document().to_owned(),
            parameters,
            run_as,
            shell_profile: None,
            principal: a.caller.arn.clone(),
            expires_at: None,
        },
        session_id,
        client_token,
    })
}

/// Sends the node its grant (with the preferences' shell profile and the
/// session's end); a node that left meanwhile fails the session.
fn hand_grant_to_node(
    a: &Allowed<'_, '_>,
    target: &str,
    new: &NewSession,
    prefs: &preferences::Preferences,
) -> Result<(), ApiError> {
    let grant = StartSession {
        shell_profile: Some(prefs.shell_profile.linux.clone()).filter(|p| !p.is_empty()),
        expires_at: prefs.max_duration_secs().and_then(|s| {
            time::OffsetDateTime::now_utc()
                .unix_timestamp()
                .checked_add(i64::try_from(s).ok()?)
        }),
        ..new.grant.clone()
    };
    if a.state.hub.send(target, ServerMessage::StartSession(grant)) {
        return Ok(());
    }
    store::end_because(
        a.conn,
        &new.session_id,
        store::SessionStatus::Failed,
        Some("the node's agent was not connected when the session started"),
    )?;
    Err(not_connected(target))
}

fn terminate_session(a: &Allowed<'_, '_>, i: IdIn) -> Result<Value, ApiError> {
    let s = store::get(a.conn, &i.session_id)?;
    let why = format!("terminated by {}", a.caller.arn);
    store::end_because(
        a.conn,
        &s.session_id,
        store::SessionStatus::Terminated,
        Some(&why),
    )?;
    a.state.broker.terminate(&s.session_id);
    a.state.hub.send(
        &s.target,
        ServerMessage::TerminateSession {
            session_id: s.session_id.clone(),
        },
    );
    Ok(json!({ "SessionId": s.session_id }))
}

fn describe_sessions(a: &Allowed<'_, '_>, i: DescribeIn) -> Result<Value, ApiError> {
    if let Some(id) = &i.session_id {
        let one = store::get(a.conn, id)?;
        return Ok(json!({ "Sessions": [shown(a, one)] }));
    }
    let active = match i.state.as_deref() {
        None | Some("Active") => true,
        Some("History") => false,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "State must be Active or History, not {other}"
            )));
        }
    };
    let list: Vec<Value> = store::list(a.conn, active)?
        .into_iter()
        .map(|s| shown(a, s))
        .collect();
    Ok(json!({ "Sessions": list }))
}

/// The one document that can be read or changed here: the Session
/// Manager preferences (`SSM-SessionManagerRunShell`).
fn preferences_document(ctx: &Ctx<'_>, i: &DocIn) -> Result<Vec<Resource>, ApiError> {
    if i.name != documents::RUN_SHELL {
        return Err(ApiError::new(
            ErrorCode::InvalidDocument,
            format!(
                "only the preferences document {} can be read or changed here",
                documents::RUN_SHELL
            ),
        ));
    }
    let account = crate::iam::store::account_id(ctx.conn)?;
    Ok(vec![Resource::arn(format!(
        "arn:aws:ssm:{}:{account}:document/{}",
        ctx.state.region, i.name
    ))])
}

fn update_preferences(a: &Allowed<'_, '_>, i: DocIn) -> Result<Value, ApiError> {
    let content = i
        .content
        .ok_or_else(|| ApiError::validation("Content is required"))?;
    let v: Value = serde_json::from_str(&content).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidDocumentContent,
            format!("Content is not JSON: {e}"),
        )
    })?;
    let prefs: preferences::Preferences =
        serde_json::from_value(v.get("inputs").cloned().unwrap_or(v))
            .map_err(|e| ApiError::new(ErrorCode::InvalidDocumentContent, e.to_string()))?;
    preferences::save(a.conn, &prefs)?;
    show_preferences(a)
}

fn show_preferences(a: &Allowed<'_, '_>) -> Result<Value, ApiError> {
    let prefs = preferences::load(a.conn)?;
    Ok(json!({
        "Name": documents::RUN_SHELL,
        "DocumentType": "Session",
        "Content": json!({"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": prefs}).to_string(),
    }))
}

fn session_recording(a: &Allowed<'_, '_>, i: RecordingIn) -> Result<Value, ApiError> {
    use crate::sessions::replay;
    let s = store::get(a.conn, &i.session_id)?;
    let path = s.recording.ok_or_else(|| {
        ApiError::new(
            ErrorCode::DoesNotExistException,
            format!("Session {} has no recording.", i.session_id),
        )
    })?;
    let unreadable = |e| ApiError::internal_because("cannot read the recording", e);
    if i.stream {
        // The file is read later, by the stream route, with no database
        // connection held.
        let total = std::fs::metadata(&path)
            .map(|m| m.len())
            .map_err(unreadable)?;
        let token = a
            .state
            .broker
            .replay_token(&s.session_id, path.into())
            .ok_or_else(|| ApiError::internal("cannot grant a recording download"))?;
        return Ok(json!({
            "SessionId": s.session_id,
            "StreamUrl": format!("/v1/session/{}/stream", s.session_id),
            "TokenValue": token,
            "TotalBytes": total,
            "RecordingStatus": s.recording_status,
            "RecordingStatusReason": s.recording_status_reason,
        }));
    }
    let offset = match i.next_token.as_deref() {
        None | Some("") => 0,
        Some(t) => t.parse::<u64>().map_err(|_| {
            ApiError::new(ErrorCode::InvalidNextToken, "The NextToken is not valid.")
        })?,
    };
    let limit = i.max_bytes.unwrap_or(replay::MAX_PAGE);
    if !(1..=replay::MAX_PAGE).contains(&limit) {
        return Err(ApiError::validation(format!(
            "MaxBytes must be between 1 and {}",
            replay::MAX_PAGE
        )));
    }
    // One bounded page: the file is never read whole here.
    let page = replay::read_page(std::path::Path::new(&path), offset, limit).map_err(unreadable)?;
    Ok(json!({
        "SessionId": s.session_id,
        "Asciicast": page.text,
        "NextToken": page.next.map(|n| n.to_string()),
        "TotalBytes": page.total,
        "RecordingStatus": s.recording_status,
        "RecordingStatusReason": s.recording_status_reason,
    }))
}

/// A session as DescribeSessions shows it: whether it was recorded, not
/// where on the server; its parameters (commands, hosts) only to its owner.
fn shown(ctx: &Ctx<'_>, s: store::Session) -> Value {
    let own = s.owner_arn == ctx.caller.arn;
    let mut v = serde_json::to_value(&s).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("Recording".into(), json!(s.recording.is_some()));
        if !own {
            o.remove("Parameters");
        }
    }
    v
}
