//! `airlock iam …`: the AWS CLI's IAM commands against the airlock server,
//! one description per operation (see [`super::spec`]), one table per resource.

use anyhow::anyhow;
use serde_json::{Value, json};

use super::spec::{
    Cell, Col, Ctx, Kind, Op, Param, Print, Service, col, col_as, col_fn, op, table, tags,
};
use crate::Global;
use crate::output::{self, s};

pub struct Iam;

impl Service for Iam {
    const SERVICE: &'static str = "iam";
    const COMMAND: &'static str = "iam";
    const OPS: &'static [&'static [Op]] = &[
        USERS,
        ACCESS_KEYS,
        USER_POLICIES,
        ROLES,
        ROLE_POLICIES,
        MANAGED_POLICIES,
        SIMULATION,
    ];
}

/// A parsed `airlock iam …` command.
pub type IamCommand = super::spec::Call<Iam>;

pub fn run(g: &Global, c: IamCommand) -> anyhow::Result<i32> {
    c.run(g)
}

const USER: Param = Param::new("user-name", "UserName", Kind::Str).help("The user's name");
const CALLER: Param =
    Param::new("user-name", "UserName", Kind::OptStr).help("Defaults to the caller");
const ROLE: Param = Param::new("role-name", "RoleName", Kind::Str).help("The role's name");
const POLICY_NAME: Param =
    Param::new("policy-name", "PolicyName", Kind::Str).help("The policy's name");
const POLICY_DOCUMENT: Param = Param::new(
    "policy-document",
    "PolicyDocument",
    Kind::Document { non_empty: false },
)
.help("JSON text, or file://PATH");
const POLICY_ARN: Param = Param::new("policy-arn", "PolicyArn", Kind::Str)
    .help("A managed policy's ARN, e.g. arn:aws:iam::aws:policy/AirlockSessionUser");
const ACCESS_KEY_ID: Param =
    Param::new("access-key-id", "AccessKeyId", Kind::Str).help("The access key's id");

/// A list of policy names.
const POLICY_NAMES: Print = table(
    "PolicyNames",
    &[Col {
        header: "PolicyName",
        cell: Cell::Item,
    }],
);
const ATTACHED: Print = table("AttachedPolicies", &[col("PolicyName"), col("PolicyArn")]);

const USERS: &[Op] = &[
    op("create-user", "CreateUser")
        .about("Create a user (with no policy: attach one to let it do anything)")
        .params(&[
            USER,
            Param::new("tags", "Tags", tags(false)).help("Tags as Key=K,Value=V (repeatable)"),
        ])
        .prints(Print::Value)
        .example("--user-name alice --tags Key=SSMSessionRunAs,Value=alice"),
    op("get-user", "GetUser")
        .about("Show a user: name, id, ARN, creation date and tags")
        .params(&[CALLER])
        .prints(Print::Value)
        .example("--user-name alice"),
    op("list-users", "ListUsers")
        .about("List the users")
        .prints(table(
            "Users",
            &[
                col("UserName"),
                col("UserId"),
                col("Arn"),
                col("CreateDate"),
            ],
        )),
    op("delete-user", "DeleteUser")
        .about("Delete a user (detach its policies and delete its keys first)")
        .params(&[USER])
        .example("--user-name alice"),
    op("tag-user", "TagUser")
        .about("Add or change a user's tags (SSMSessionRunAs names the Unix user of its sessions)")
        .params(&[
            USER,
            Param::new("tags", "Tags", tags(true)).help("Tags as Key=K,Value=V (repeatable)"),
        ])
        .example("--user-name alice --tags Key=team,Value=hpc Key=SSMSessionRunAs,Value=alice"),
];

const ACCESS_KEYS: &[Op] = &[
    op("create-access-key", "CreateAccessKey")
        .about("Creates a key pair; the private key is shown once")
        .params(&[
            CALLER,
            Param::new("save-profile", "", Kind::OptStr).help(
                "Also save the new key as this profile in ~/.airlock (endpoint and CA of the current profile)",
            ),
        ])
        .prints(Print::Hook(save_profile))
        .example("--user-name alice --save-profile alice"),
    op("list-access-keys", "ListAccessKeys")
        .about("List a user's access keys and their status")
        .params(&[CALLER])
        .prints(table(
            "AccessKeyMetadata",
            &[
                col("UserName"),
                col("AccessKeyId"),
                col("Status"),
                col("CreateDate"),
            ],
        ))
        .example("--user-name alice"),
    op("update-access-key", "UpdateAccessKey")
        .about("Make an access key active or inactive (an inactive key is refused)")
        .params(&[
            USER,
            ACCESS_KEY_ID,
            Param::new("status", "Status", Kind::OneOf(&["Active", "Inactive"]))
                .help("The key's new status"),
        ])
        .example("--user-name alice --access-key-id AKIAEXAMPLE --status Inactive"),
    op("delete-access-key", "DeleteAccessKey")
        .about("Delete an access key")
        .params(&[USER, ACCESS_KEY_ID])
        .example("--user-name alice --access-key-id AKIAEXAMPLE"),
];

const USER_POLICIES: &[Op] = &[
    op("put-user-policy", "PutUserPolicy")
        .about("Add or replace a user's inline policy")
        .params(&[USER, POLICY_NAME, POLICY_DOCUMENT])
        .example("--user-name alice --policy-name extra --policy-document file://policy.json"),
    op("get-user-policy", "GetUserPolicy")
        .about("Show a user's inline policy document")
        .params(&[USER, POLICY_NAME])
        .prints(Print::Value)
        .example("--user-name alice --policy-name extra"),
    op("delete-user-policy", "DeleteUserPolicy")
        .about("Delete a user's inline policy")
        .params(&[USER, POLICY_NAME])
        .example("--user-name alice --policy-name extra"),
    op("list-user-policies", "ListUserPolicies")
        .about("List the names of a user's inline policies")
        .params(&[USER])
        .prints(POLICY_NAMES)
        .example("--user-name alice"),
    op("attach-user-policy", "AttachUserPolicy")
        .about("Attach a managed policy to a user")
        .params(&[USER, POLICY_ARN])
        .example("--user-name alice --policy-arn arn:aws:iam::aws:policy/AirlockSessionUser"),
    op("detach-user-policy", "DetachUserPolicy")
        .about("Detach a managed policy from a user")
        .params(&[USER, POLICY_ARN])
        .example("--user-name alice --policy-arn arn:aws:iam::aws:policy/AirlockSessionUser"),
    op("list-attached-user-policies", "ListAttachedUserPolicies")
        .about("List the managed policies attached to a user")
        .params(&[USER])
        .prints(ATTACHED)
        .example("--user-name alice"),
];

const ROLES: &[Op] = &[
    op("create-role", "CreateRole")
        .about("Create a role for nodes (their instance profile) with its trust policy")
        .params(&[
            ROLE,
            Param::new(
                "assume-role-policy-document",
                "AssumeRolePolicyDocument",
                Kind::Document { non_empty: false },
            )
            .help("The trust policy: JSON text, or file://PATH"),
            Param::new("description", "Description", Kind::Default(""))
                .help("What the role is for"),
        ])
        .prints(Print::Value)
        .example("--role-name NodeRole --assume-role-policy-document file://trust-policy.json"),
    op("get-role", "GetRole")
        .about("Show a role and its trust policy")
        .params(&[ROLE])
        .prints(Print::Value)
        .example("--role-name NodeRole"),
    op("list-roles", "ListRoles")
        .about("List the roles")
        .prints(table(
            "Roles",
            &[
                col("RoleName"),
                col("RoleId"),
                col("Arn"),
                col("Description"),
            ],
        )),
    op("delete-role", "DeleteRole")
        .about("Delete a role and its policies (nodes launched with it lose their rights)")
        .params(&[ROLE])
        .example("--role-name NodeRole"),
];

const ROLE_POLICIES: &[Op] = &[
    op("put-role-policy", "PutRolePolicy")
        .about("Add or replace a role's inline policy")
        .params(&[ROLE, POLICY_NAME, POLICY_DOCUMENT])
        .example("--role-name NodeRole --policy-name extra --policy-document file://policy.json"),
    op("list-role-policies", "ListRolePolicies")
        .about("List the names of a role's inline policies")
        .params(&[ROLE])
        .prints(POLICY_NAMES)
        .example("--role-name NodeRole"),
    op("attach-role-policy", "AttachRolePolicy")
        .about("Attach a managed policy to a role")
        .params(&[ROLE, POLICY_ARN])
        .example("--role-name NodeRole --policy-arn arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"),
    op("detach-role-policy", "DetachRolePolicy")
        .about("Detach a managed policy from a role")
        .params(&[ROLE, POLICY_ARN])
        .example("--role-name NodeRole --policy-arn arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"),
    op("list-attached-role-policies", "ListAttachedRolePolicies")
        .about("List the managed policies attached to a role")
        .params(&[ROLE])
        .prints(ATTACHED)
        .example("--role-name NodeRole"),
];

const MANAGED_POLICIES: &[Op] = &[
    op("create-policy", "CreatePolicy")
        .about("Create a customer managed policy, to attach to users and roles")
        .params(&[POLICY_NAME, POLICY_DOCUMENT])
        .prints(Print::Value)
        .example("--policy-name ReadOnly --policy-document file://policy.json"),
    op("list-policies", "ListPolicies")
        .about("List the managed policies: airlock's (AWS-managed names) and yours")
        .prints(table(
            "Policies",
            &[col("PolicyName"), col("Arn"), col("Scope")],
        )),
    op("get-policy", "GetPolicy")
        .about("Show a managed policy and its document")
        .params(&[POLICY_ARN])
        .prints(Print::Value)
        .example("--policy-arn arn:aws:iam::aws:policy/AirlockSessionUser"),
];

const SIMULATION: &[Op] = &[op("simulate-principal-policy", "SimulatePrincipalPolicy")
    .about("May a user or role do these actions on these resources? Names the deciding statements")
    .params(&[
        Param::new("policy-source-arn", "PolicySourceArn", Kind::Str)
            .help("The user's or role's ARN"),
        Param::new("action-names", "ActionNames", Kind::List { required: true })
            .help("Actions to check, e.g. ssm:StartSession"),
        Param::new(
            "resource-arns",
            "ResourceArns",
            Kind::List { required: false },
        )
        .help("Resources to check them on [default: *]"),
        Param::new(
            "context-entries",
            "ContextEntries",
            Kind::Shorthand {
                parse: context_entry,
                required: false,
            },
        )
        .help("ContextKeyName=K,ContextKeyValues=V1[,V2…],ContextKeyType=string (repeatable)"),
    ])
    .prints(table(
        "EvaluationResults",
        &[
            col_as("Action", "EvalActionName"),
            col_as("Resource", "EvalResourceName"),
            col_as("Decision", "EvalDecision"),
            col_fn("MatchedStatements", matched_statements),
        ],
    ))
    .example(
        "--policy-source-arn arn:aws:iam::123456789012:user/alice --action-names ssm:StartSession \
         --context-entries ContextKeyName=aws:SourceIp,ContextKeyValues=10.0.0.1,ContextKeyType=ip",
    )];

/// `create-access-key --save-profile NAME`: also writes the new key as a
/// profile, with the endpoint and CA of the current one.
fn save_profile(ctx: &Ctx, v: &Value) -> anyhow::Result<()> {
    if let Some(name) = ctx.string("save-profile") {
        use airlock_proto::profile::{ClientFiles, Profile};
        let key = &v["AccessKey"];
        let files = ClientFiles::locate()?;
        let current = files.load(&ctx.g.profile)?;
        files.save(&Profile {
            name: name.to_owned(),
            endpoint: ctx.g.endpoint.clone().or(current.endpoint),
            ca_bundle: current.ca_bundle,
            access_key_id: Some(s(key, "AccessKeyId")),
            private_key: Some(s(key, "PrivateKey")),
        })?;
        eprintln!("saved as profile '{name}'");
    }
    output::value(v);
    Ok(())
}

/// One line per matched statement: `POLICY Statement[i] (Sid)`.
fn matched_statements(r: &Value) -> String {
    let lines: Vec<String> = r["MatchedStatements"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|st| {
            let sid = st["Sid"]
                .as_str()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default();
            format!(
                "{} Statement[{}]{sid}",
                s(st, "SourcePolicyId"),
                s(st, "StatementIndex")
            )
        })
        .collect();
    lines.join("\n")
}

/// Parses `ContextKeyName=K,ContextKeyValues=V1,V2,ContextKeyType=string`.
fn context_entry(e: &str) -> anyhow::Result<Value> {
    let mut name = None;
    let mut values = Vec::new();
    let mut ty = "string".to_owned();
    let mut in_values = false;
    for part in e.split(',') {
        match part.split_once('=') {
            Some(("ContextKeyName", n)) => {
                name = Some(n.to_owned());
                in_values = false;
            }
            Some(("ContextKeyValues", v)) => {
                values.push(v.to_owned());
                in_values = true;
            }
            Some(("ContextKeyType", t)) => {
                ty = t.to_owned();
                in_values = false;
            }
            _ if in_values => values.push(part.to_owned()),
            _ => {
                return Err(anyhow!(
                    "bad context entry {e:?}: expected ContextKeyName=K,ContextKeyValues=V,ContextKeyType=T"
                ));
            }
        }
    }
    let name = name.ok_or_else(|| anyhow!("context entry {e:?} has no ContextKeyName"))?;
    Ok(json!({"ContextKeyName": name, "ContextKeyValues": values, "ContextKeyType": ty}))
}

#[cfg(test)]
mod tests {
    use super::super::spec::tests::{body_of, examples_parse, parse};
    use super::*;

    #[test]
    fn every_operation_parses_its_example() {
        examples_parse::<Iam>();
        assert_eq!(Iam::ops().count(), 29);
    }

    /// The bodies the hand-written commands sent before the descriptions.
    #[test]
    fn bodies_are_what_the_aws_cli_shape_sends() {
        let cases = [
            (
                "create-user --user-name alice",
                json!({"UserName": "alice", "Tags": []}),
            ),
            (
                "create-user --user-name alice --tags Key=SSMSessionRunAs,Value=alice Key=team",
                json!({"UserName": "alice", "Tags": [{"Key": "SSMSessionRunAs", "Value": "alice"}, {"Key": "team", "Value": ""}]}),
            ),
            (
                "create-user --user-name alice --tags Key=a,Value=b --tags Key=c,Value=d",
                json!({"UserName": "alice", "Tags": [{"Key": "a", "Value": "b"}, {"Key": "c", "Value": "d"}]}),
            ),
            ("get-user", json!({"UserName": null})),
            ("list-users", json!({})),
            (
                "create-access-key --user-name alice --save-profile alice",
                json!({"UserName": "alice"}),
            ),
            ("list-access-keys", json!({"UserName": null})),
            (
                "update-access-key --user-name alice --access-key-id AK1 --status Inactive",
                json!({"UserName": "alice", "AccessKeyId": "AK1", "Status": "Inactive"}),
            ),
            (
                "put-user-policy --user-name alice --policy-name p --policy-document {\"Version\":\"2012-10-17\"}",
                json!({"UserName": "alice", "PolicyName": "p", "PolicyDocument": "{\"Version\":\"2012-10-17\"}"}),
            ),
            (
                "create-role --role-name r --assume-role-policy-document {}",
                json!({"RoleName": "r", "AssumeRolePolicyDocument": "{}", "Description": ""}),
            ),
            (
                "create-role --role-name r --assume-role-policy-document {} --description hello",
                json!({"RoleName": "r", "AssumeRolePolicyDocument": "{}", "Description": "hello"}),
            ),
            (
                "attach-role-policy --role-name r --policy-arn arn:aws:iam::aws:policy/B",
                json!({"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/B"}),
            ),
            (
                "create-policy --policy-name p --policy-document {}",
                json!({"PolicyName": "p", "PolicyDocument": "{}"}),
            ),
            (
                "get-policy --policy-arn arn:p",
                json!({"PolicyArn": "arn:p"}),
            ),
            (
                "simulate-principal-policy --policy-source-arn arn:aws:iam::123:user/alice --action-names ssm:StartSession iam:ListUsers",
                json!({"PolicySourceArn": "arn:aws:iam::123:user/alice", "ActionNames": ["ssm:StartSession", "iam:ListUsers"], "ResourceArns": [], "ContextEntries": []}),
            ),
            (
                "simulate-principal-policy --policy-source-arn arn:u --action-names a --resource-arns r1 r2 --context-entries ContextKeyName=aws:SourceIp,ContextKeyValues=10.0.0.1,10.0.0.2,ContextKeyType=ip ContextKeyName=k,ContextKeyValues=v",
                json!({"PolicySourceArn": "arn:u", "ActionNames": ["a"], "ResourceArns": ["r1", "r2"], "ContextEntries": [
                    {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1", "10.0.0.2"], "ContextKeyType": "ip"},
                    {"ContextKeyName": "k", "ContextKeyValues": ["v"], "ContextKeyType": "string"},
                ]}),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(body_of::<Iam>(line).unwrap(), want, "{line}");
        }
        let c = parse::<Iam>("create-user --user-name alice").unwrap();
        assert_eq!(c.op.action, "CreateUser");
    }

    #[test]
    fn bad_input_gives_the_same_errors() {
        assert_eq!(
            body_of::<Iam>("create-user --user-name alice --tags Value=x")
                .unwrap_err()
                .to_string(),
            r#"bad tag "Value=x": expected Key=NAME,Value=VALUE"#
        );
        assert_eq!(
            body_of::<Iam>("simulate-principal-policy --policy-source-arn a --action-names x --context-entries Bogus=1")
                .unwrap_err()
                .to_string(),
            r#"bad context entry "Bogus=1": expected ContextKeyName=K,ContextKeyValues=V,ContextKeyType=T"#
        );
        let refused = |line: &str| parse::<Iam>(line).err().map(|e| e.kind());
        use clap::error::ErrorKind;
        assert_eq!(
            refused("tag-user --user-name alice"),
            Some(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            refused("create-user --user-name a --tags"),
            Some(ErrorKind::InvalidValue)
        );
        assert_eq!(
            refused("update-access-key --user-name a --access-key-id k --status Nope"),
            Some(ErrorKind::InvalidValue)
        );
        assert_eq!(refused("get-user --user"), Some(ErrorKind::UnknownArgument));
    }

    #[test]
    fn context_entries_parse_like_the_aws_cli() {
        assert_eq!(
            context_entry(
                "ContextKeyName=aws:SourceIp,ContextKeyValues=10.0.0.1,10.0.0.2,ContextKeyType=ip"
            )
            .unwrap(),
            json!({"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1", "10.0.0.2"], "ContextKeyType": "ip"})
        );
        assert!(context_entry("ContextKeyValues=v").is_err());
    }

    #[test]
    fn matched_statements_name_policy_index_and_sid() {
        let r = json!({"MatchedStatements": [
            {"SourcePolicyId": "p1", "StatementIndex": 0, "Sid": "A"},
            {"SourcePolicyId": "p2", "StatementIndex": 1},
        ]});
        assert_eq!(
            matched_statements(&r),
            "p1 Statement[0] (A)\np2 Statement[1]"
        );
        assert_eq!(matched_statements(&json!({})), "");
    }
}
