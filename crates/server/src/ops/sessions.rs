//! Session operations: `ssm:StartSession`, `ssm:TerminateSession`,
//! `ssm:DescribeSessions` and `airlock:GetSessionRecording`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, input, unknown_operation};
use crate::api_error::{ApiError, ErrorCode};
use crate::iam::authz;
use crate::iam::ids;
use crate::iam::store::Iam;
use crate::iam::tag_context::TagContext;
use crate::instances::control::instance_arn;
use crate::instances::{ServerMessage, StartSession, store as instances};
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

pub fn session_arn(ctx: &Ctx<'_>, account: &str, id: &str) -> String {
    format!("arn:aws:ssm:{}:{account}:session/{id}", ctx.state.region)
}

pub fn call(ctx: &Ctx<'_>, op: &str, body: &Value) -> Result<Value, ApiError> {
    let iam = Iam::new(ctx.conn)?;
    match op {
        "StartSession" => {
            let i: StartIn = input(body)?;
            let doc = i.document_name.as_deref().unwrap_or(documents::RUN_SHELL);
            let target = instances::resolve_target(ctx.conn, &i.target)?;
            let arn = instance_arn(&ctx.state.region, &iam.account, &target);
            let tags = TagContext::resource(&instances::tags(ctx.conn, &target.instance_id)?);
            authz::authorize_tagged(ctx, "ssm:StartSession", &arn, &tags)?;
            let doc_arn = format!("arn:aws:ssm:{}::document/{doc}", ctx.state.region);
            authz::authorize(ctx, "ssm:StartSession", &doc_arn, &[])?;
            let params = documents::validate(doc, &i.parameters)?;
            if !ctx.state.hub.is_online(&target.instance_id) {
                return Err(ApiError::new(
                    ErrorCode::TargetNotConnected,
                    format!("{} is not connected.", target.instance_id),
                ));
            }
            let prefs = preferences::load(ctx.conn)?;
            let run_as = if prefs.run_as_enabled {
                let tagged = ctx
                    .caller
                    .tags
                    .iter()
                    .find(|t| t.key == "SSMSessionRunAs")
                    .map(|t| t.value.clone());
                let user = tagged
                    .or_else(|| Some(prefs.run_as_default_user.clone()).filter(|u| !u.is_empty()));
                Some(user.ok_or_else(|| {
                    ApiError::new(ErrorCode::InvalidUser,
                        format!(
                            "Run As is on, but user {} has no SSMSessionRunAs tag and no runAsDefaultUser is set.",
                            ctx.caller.user_name
                        ),
                    )
                })?)
            } else {
                None
            };
            let session_id = format!("{}-{}", ctx.caller.user_name, &ids::random_hex(9)[..17]);
            let (client_token, agent_token) = (ids::random_hex(32), ids::random_hex(32));
            let params_json =
                serde_json::to_value(&params).map_err(|e| ApiError::internal(e.to_string()))?;
            store::create(
                ctx.conn,
                &store::NewSession {
                    session_id: &session_id,
                    owner: &ctx.caller.user_name,
                    owner_arn: &ctx.caller.arn,
                    target: &target.instance_id,
                    document_name: doc,
                    parameters: &params_json,
                    run_as: run_as.as_deref(),
                    reason: i.reason.as_deref(),
                    client_token: &client_token,
                    agent_token: &agent_token,
                },
            )?;
            let sent = ctx.state.hub.send(
                &target.instance_id,
                ServerMessage::StartSession(StartSession {
                    session_id: session_id.clone(),
                    token: agent_token,
                    document_name: doc.to_owned(),
                    parameters: params_json.clone(),
                    run_as: run_as.clone(),
                    shell_profile: Some(prefs.shell_profile.linux.clone())
                        .filter(|p| !p.is_empty()),
                    principal: ctx.caller.arn.clone(),
                    expires_at: prefs.max_duration_secs().and_then(|s| {
                        time::OffsetDateTime::now_utc()
                            .unix_timestamp()
                            .checked_add(i64::try_from(s).ok()?)
                    }),
                }),
            );
            if !sent {
                store::end_because(
                    ctx.conn,
                    &session_id,
                    "Failed",
                    Some("the node's agent was not connected when the session started"),
                )?;
                return Err(ApiError::new(
                    ErrorCode::TargetNotConnected,
                    format!("{} is not connected.", target.instance_id),
                ));
            }
            Ok(json!({
                "SessionId": session_id,
                "TokenValue": client_token,
                "StreamUrl": format!("/v1/session/{session_id}/stream"),
                "Target": target.instance_id,
                "DocumentName": doc,
                "Parameters": params_json,
                "RunAs": run_as,
            }))
        }
        "TerminateSession" => {
            let i: IdIn = input(body)?;
            let s = store::get(ctx.conn, &i.session_id)?;
            authz::authorize(
                ctx,
                "ssm:TerminateSession",
                &session_arn(ctx, &iam.account, &s.session_id),
                &[],
            )?;
            let why = format!("terminated by {}", ctx.caller.arn);
            store::end_because(ctx.conn, &s.session_id, "Terminated", Some(&why))?;
            ctx.state.broker.terminate(&s.session_id);
            ctx.state.hub.send(
                &s.target,
                ServerMessage::TerminateSession {
                    session_id: s.session_id.clone(),
                },
            );
            Ok(json!({ "SessionId": s.session_id }))
        }
        "DescribeSessions" => {
            let i: DescribeIn = input(body)?;
            authz::authorize(ctx, "ssm:DescribeSessions", "*", &[])?;
            if let Some(id) = &i.session_id {
                let one = store::get(ctx.conn, id)?;
                return Ok(json!({ "Sessions": [shown(ctx, one)] }));
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
            let list: Vec<Value> = store::list(ctx.conn, active)?
                .into_iter()
                .map(|s| shown(ctx, s))
                .collect();
            Ok(json!({ "Sessions": list }))
        }
        "GetDocument" | "UpdateDocument" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "PascalCase")]
            struct DocIn {
                name: String,
                #[serde(default)]
                content: Option<String>,
            }
            let i: DocIn = input(body)?;
            if i.name != documents::RUN_SHELL {
                return Err(ApiError::new(
                    ErrorCode::InvalidDocument,
                    format!(
                        "only the preferences document {} can be read or changed here",
                        documents::RUN_SHELL
                    ),
                ));
            }
            let arn = format!(
                "arn:aws:ssm:{}:{}:document/{}",
                ctx.state.region, iam.account, i.name
            );
            authz::authorize(ctx, &format!("ssm:{op}"), &arn, &[])?;
            if op == "UpdateDocument" {
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
                    serde_json::from_value(v.get("inputs").cloned().unwrap_or(v)).map_err(|e| {
                        ApiError::new(ErrorCode::InvalidDocumentContent, e.to_string())
                    })?;
                preferences::save(ctx.conn, &prefs)?;
            }
            let prefs = preferences::load(ctx.conn)?;
            Ok(json!({
                "Name": documents::RUN_SHELL,
                "DocumentType": "Session",
                "Content": json!({"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": prefs}).to_string(),
            }))
        }
        "GetSessionRecording" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "PascalCase")]
            struct RecIn {
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
            use crate::sessions::replay;
            let i: RecIn = input(body)?;
            let s = store::get(ctx.conn, &i.session_id)?;
            authz::authorize(
                ctx,
                "airlock:ReplaySession",
                &session_arn(ctx, &iam.account, &s.session_id),
                &[],
            )?;
            let path = s.recording.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::DoesNotExistException,
                    format!("Session {} has no recording.", i.session_id),
                )
            })?;
            if i.stream {
                // The file is read later, by the stream route, with no
                // database connection held.
                let total = std::fs::metadata(&path)
                    .map(|m| m.len())
                    .map_err(|e| ApiError::internal(format!("cannot read the recording: {e}")))?;
                let token = ctx
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
            let page = replay::read_page(std::path::Path::new(&path), offset, limit)
                .map_err(|e| ApiError::internal(format!("cannot read the recording: {e}")))?;
            Ok(json!({
                "SessionId": s.session_id,
                "Asciicast": page.text,
                "NextToken": page.next.map(|n| n.to_string()),
                "TotalBytes": page.total,
                "RecordingStatus": s.recording_status,
                "RecordingStatusReason": s.recording_status_reason,
            }))
        }
        _ => Err(unknown_operation("ssm", op)),
    }
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
