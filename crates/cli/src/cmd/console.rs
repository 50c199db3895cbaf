//! `airlock console [--open]`: a one-time sign-in link to the web console,
//! valid for 60 s, for the profile's user (`console:CreateSignInToken`).

use serde_json::json;

use crate::Global;
use crate::client::ApiClient;

#[derive(clap::Args)]
pub struct ConsoleArgs {
    /// Open the link in a browser (xdg-open) as well as printing it.
    #[arg(long)]
    open: bool,
    /// How long the console session lasts once signed in, in seconds (900 to 43200, as AWS).
    #[arg(long, default_value_t = 3600)]
    session_duration: i64,
}

pub fn run(g: &Global, a: ConsoleArgs) -> anyhow::Result<i32> {
    let client = ApiClient::from_global(g)?;
    let v = client.call(
        "console",
        "CreateSignInToken",
        &json!({"SessionDuration": a.session_duration}),
    )?;
    let token = v["SignInToken"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no SignInToken in the answer"))?;
    let path = v["SignInPath"].as_str().unwrap_or("/console/signin");
    let url = format!("{}{path}#{token}", client.endpoint.trim_end_matches('/'));
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "SignInUrl": url,
                "ExpiresInSeconds": v["ExpiresInSeconds"],
                "SessionDuration": v["SessionDuration"],
            }))?
        );
    } else {
        println!("{url}");
        eprintln!(
            "This sign-in link works once, within {} s. Your browser must trust the airlock CA ({}).",
            v["ExpiresInSeconds"].as_i64().unwrap_or(60),
            client
                .ca
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.airlock/ca.pem".into())
        );
    }
    if a.open {
        match std::process::Command::new("xdg-open")
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(_) => {}
            Err(e) => eprintln!("could not open a browser ({e}): open the link yourself"),
        }
    }
    Ok(0)
}
