//! Parses arbitrary text as identity and resource policies, and evaluates
//! requests built from the rest of the input against whatever parses.
//!
//! Input layout: `policy \0 action \0 resource \0 key=value \0 ...`.
#![no_main]

use airlock_policy::{Policy, Request, evaluate, missing_context_keys, refusal_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let policy_text = parts.next().unwrap_or("");
    let action = parts.next().unwrap_or("ssm:StartSession");
    let resource = parts
        .next()
        .unwrap_or("arn:aws:ec2:us-east-1:123456789012:instance/i-1");
    let mut request = Request::new("arn:aws:iam::123456789012:user/alice", action, resource);
    for entry in parts {
        let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
        if let Some(values) = v.strip_prefix('[') {
            request.context.insert_values(k, values.split(','));
        } else {
            request.context.insert(k, v);
        }
    }
    for parsed in [
        Policy::parse(policy_text),
        Policy::parse_resource_policy(policy_text),
    ] {
        match parsed {
            Ok(p) => {
                let d = evaluate([("fuzz", &p)], &request);
                let _ = refusal_message(&request, &d);
                let _ = d.to_string();
                let _ = missing_context_keys([("fuzz", &p)], &request);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
