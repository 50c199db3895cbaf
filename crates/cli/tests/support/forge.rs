//! A hand-built client, as an attacker writes one: signed API requests with
//! any body, and session streams whose `Open` frames carry any fields.

use std::sync::Arc;

use airlock_proto::profile::ClientFiles;
use airlock_proto::signature;
use airlock_transport::{dial, handshake, mux};
use airlock_wire::{ChannelEvent, ChannelKind, CloseStatus, Config, Connection, Side};
use serde_json::Value;

use super::Env;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Sends `body` to `service:operation`, signed with `profile`'s key;
/// returns the HTTP status and the JSON answer.
pub fn call(env: &Env, profile: &str, service: &str, op: &str, body: &Value) -> (u16, Value) {
    let files = ClientFiles {
        dir: env.config_dir(),
    };
    let p = files.load(profile).expect("profile");
    let key =
        signature::decode_private_key(p.private_key.as_deref().expect("key")).expect("private key");
    let path = format!("/v1/{service}/{op}");
    let body = body.to_string();
    let nonce = format!("{:032x}", rand_nonce());
    let h = signature::sign(
        &key,
        p.access_key_id.as_deref().expect("access key id"),
        "POST",
        &path,
        "",
        body.as_bytes(),
        unix_now(),
        &nonce,
    );
    let pem = std::fs::read(env.ca()).expect("ca");
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("ca pem"))
        .build()
        .expect("http client");
    runtime().block_on(async {
        let r = http
            .post(format!("{}{path}", env.endpoint()))
            .header("authorization", h.authorization)
            .header(signature::DATE_HEADER, h.date)
            .header(signature::NONCE_HEADER, h.nonce)
            .body(body)
            .send()
            .await
            .expect("send");
        let st = r.status().as_u16();
        (st, r.json().await.unwrap_or(Value::Null))
    })
}

fn rand_nonce() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::UNIX_EPOCH
            .elapsed()
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (u128::from(h.finish()) << 64) | u128::from(std::process::id())
}

/// A session started through the API, whose stream this test drives.
pub struct Forged {
    rt: tokio::runtime::Runtime,
    pub session_id: String,
    pub answer: Value,
    mux: mux::Mux,
}

impl Forged {
    /// `StartSession` with `document` and `parameters` on `target`, then the
    /// session stream and the protocol handshake.
    pub fn start(env: &Env, profile: &str, target: &str, document: &str, params: Value) -> Self {
        let body =
            serde_json::json!({"Target": target, "DocumentName": document, "Parameters": params});
        let (st, v) = call(env, profile, "ssm", "StartSession", &body);
        assert_eq!(st, 200, "StartSession: {v}");
        let id = v["SessionId"].as_str().expect("SessionId").to_owned();
        let token = v["TokenValue"].as_str().expect("TokenValue").to_owned();
        let url = v["StreamUrl"].as_str().expect("StreamUrl").to_owned();
        let cfg = Arc::new(
            dial::user_tls_config(&std::fs::read(env.ca()).expect("ca")).expect("tls config"),
        );
        let rt = runtime();
        let endpoint = env.endpoint();
        let mux = rt.block_on(async move {
            let mut tls = dial::upgrade(
                cfg,
                &endpoint,
                &url,
                "airlock-session/1",
                &[("X-Airlock-Session-Token", &token)],
            )
            .await
            .expect("session stream");
            let (n, _) = handshake::dial(&mut tls, None).await.expect("handshake");
            let conn = Connection::new(Config::new(Side::Dialer), n.peer_max_payload);
            let (m, _incoming, _task) = mux::start(tls, conn);
            m
        });
        Forged {
            rt,
            session_id: id,
            answer: v,
            mux,
        }
    }

    /// Opens `kind` with these `session` and `run_as` fields; returns the
    /// channel's output and close status, or the agent's refusal.
    pub fn open(
        &self,
        kind: ChannelKind,
        session: Option<&str>,
        run_as: Option<&str>,
    ) -> Result<(Vec<u8>, CloseStatus), String> {
        let m = self.mux.clone();
        let (session, run_as) = (session.map(str::to_owned), run_as.map(str::to_owned));
        self.rt.block_on(async move {
            let mut ch = m
                .open(kind, session, run_as)
                .await
                .map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            loop {
                match ch.recv().await {
                    Some(ChannelEvent::Data { data, .. }) => {
                        ch.consumed(data.len());
                        out.extend_from_slice(&data);
                    }
                    Some(ChannelEvent::Closed(st)) => return Ok((out, st)),
                    Some(ChannelEvent::Error { reason, .. }) => return Err(reason),
                    None => return Err("the connection ended".into()),
                    Some(_) => {}
                }
            }
        })
    }
}
