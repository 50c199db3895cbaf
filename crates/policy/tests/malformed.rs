//! Malformed documents are refused with the JSON path of the fault and a
//! reason, as IAM's MalformedPolicyDocument does.

use airlock_policy::{Policy, PolicyError};

fn fault(text: &str) -> (String, String) {
    match Policy::parse(text) {
        Ok(_) => panic!("should be refused:\n{text}"),
        Err(PolicyError::Malformed { path, reason }) => (path, reason),
        Err(e) => panic!("expected a structural fault, got {e}"),
    }
}

fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#)
}

const OK: &str = r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#;

#[test]
fn invalid_json_reports_line_and_column() {
    let err = Policy::parse(
        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\",}\n  ]\n}",
    );
    match err {
        Err(PolicyError::Json {
            line,
            column,
            reason,
        }) => {
            assert_eq!((line, column), (4, 24));
            assert_eq!(reason, "trailing comma");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn duplicate_condition_operator_is_refused_not_merged() {
    let err = Policy::parse(
        "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\n\"Condition\":{\"StringEquals\":{\"a:b\":\"1\"},\n\"StringEquals\":{\"a:c\":\"2\"}}}}",
    );
    match err {
        Err(e @ PolicyError::Json { line: 3, .. }) => {
            assert_eq!(e.reason(), "duplicate key \"StringEquals\"");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn document_must_be_an_object() {
    assert_eq!(
        fault("[]"),
        (
            "".into(),
            "a policy document must be a JSON object, found an array".into()
        )
    );
    let err = Policy::parse("42").err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("MalformedPolicyDocument: a policy document must be a JSON object, found a number")
    );
}

#[test]
fn unknown_top_level_element_is_named_with_a_hint() {
    assert_eq!(
        fault(r#"{"Version":"2012-10-17","Statements":[]}"#),
        (
            "Statements".into(),
            "unknown element \"Statements\"; did you mean \"Statement\"?".into()
        )
    );
}

#[test]
fn missing_statement_is_refused() {
    assert_eq!(
        fault(r#"{"Version":"2012-10-17"}"#),
        ("".into(), "missing required element \"Statement\"".into())
    );
}

#[test]
fn empty_statement_list_is_refused() {
    assert_eq!(
        fault(&doc("[]")),
        (
            "Statement".into(),
            "must contain at least one statement".into()
        )
    );
}

#[test]
fn statement_of_wrong_type_is_refused() {
    assert_eq!(
        fault(&doc(r#""Allow""#)),
        (
            "Statement".into(),
            "must be an object or an array of objects, found a string".into()
        )
    );
    assert_eq!(
        fault(&doc(&format!("[{OK}, 3]"))),
        (
            "Statement[1]".into(),
            "a statement must be an object, found a number".into()
        )
    );
}

#[test]
fn unsupported_version_is_refused() {
    assert_eq!(
        fault(r#"{"Version":"2012-10-18","Statement":[]}"#),
        (
            "Version".into(),
            "unsupported version \"2012-10-18\"; use \"2012-10-17\"".into()
        )
    );
    assert_eq!(fault(r#"{"Version":20121017,"Statement":[]}"#).0, "Version");
}

#[test]
fn bad_effect_names_its_statement() {
    assert_eq!(
        fault(&doc(&format!(
            r#"[{OK}, {{"Effect":"allow","Action":"*","Resource":"*"}}]"#
        ))),
        (
            "Statement[1].Effect".into(),
            "must be \"Allow\" or \"Deny\", found \"allow\"".into()
        )
    );
}

#[test]
fn missing_effect_is_refused_at_the_statement() {
    assert_eq!(
        fault(&doc(r#"{"Action":"*","Resource":"*"}"#)),
        (
            "Statement".into(),
            "missing required element \"Effect\"".into()
        )
    );
}

#[test]
fn missing_action_is_refused() {
    assert_eq!(
        fault(&doc(r#"[{"Effect":"Allow","Resource":"*"}]"#)),
        (
            "Statement[0]".into(),
            "missing required element \"Action\" (or \"NotAction\")".into()
        )
    );
}

#[test]
fn action_and_not_action_together_are_refused() {
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":"*","NotAction":"iam:*","Resource":"*"}]"#
        )),
        (
            "Statement[0]".into(),
            "a statement may have \"Action\" or \"NotAction\", not both".into()
        )
    );
}

#[test]
fn resource_and_not_resource_together_are_refused() {
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}]"#
        ))
        .1,
        "a statement may have \"Resource\" or \"NotResource\", not both"
    );
}

#[test]
fn missing_resource_is_refused_in_identity_policies() {
    assert_eq!(
        fault(&doc(r#"[{"Effect":"Allow","Action":"*"}]"#)),
        (
            "Statement[0]".into(),
            "missing required element \"Resource\" (or \"NotResource\")".into()
        )
    );
}

#[test]
fn non_string_action_item_is_refused_at_its_index() {
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":["ssm:StartSession",7],"Resource":"*"}]"#
        )),
        (
            "Statement[0].Action[1]".into(),
            "must be a string, found a number".into()
        )
    );
}

#[test]
fn empty_action_list_is_refused() {
    assert_eq!(
        fault(&doc(r#"[{"Effect":"Allow","Action":[],"Resource":"*"}]"#)),
        ("Statement[0].Action".into(), "must not be empty".into())
    );
}

#[test]
fn action_without_service_prefix_is_refused() {
    assert_eq!(
        fault(&doc(r#"[{"Effect":"Allow","Action":["ssm:StartSession","StartSession"],"Resource":"*"}]"#)),
        (
            "Statement[0].Action[1]".into(),
            "\"StartSession\" is not an action: expected service:Action, e.g. \"ssm:StartSession\", or \"*\"".into()
        )
    );
}

#[test]
fn resource_that_is_not_an_arn_is_refused() {
    assert_eq!(
        fault(&doc(r#"{"Effect":"Allow","Action":"*","Resource":"i-0123456789abcdef0"}"#)),
        (
            "Statement.Resource".into(),
            "\"i-0123456789abcdef0\" is not a resource: expected an ARN (arn:partition:service:region:account:resource) or \"*\"".into()
        )
    );
}

#[test]
fn malformed_policy_variable_is_refused() {
    assert_eq!(
        fault(&doc(
            r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:ssm:*:*:session/${}-*"}"#
        )),
        (
            "Statement.Resource".into(),
            "invalid policy variable ${}: expected a context key such as ${aws:username}".into()
        )
    );
}

#[test]
fn unknown_statement_element_is_named_with_a_hint() {
    assert_eq!(
        fault(&doc(r#"[{"Effect":"Allow","Actions":"*","Resource":"*"}]"#)),
        (
            "Statement[0].Actions".into(),
            "unknown element \"Actions\"; did you mean \"Action\"?".into()
        )
    );
}

#[test]
fn unknown_condition_operator_is_named_with_a_hint() {
    assert_eq!(
        fault(&doc(&format!(
            r#"[{OK}, {{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"StringEqual":{{"aws:username":"a"}}}}}}]"#
        ))),
        (
            "Statement[1].Condition.StringEqual".into(),
            "unknown condition operator \"StringEqual\"; did you mean \"StringEquals\"?".into()
        )
    );
}

#[test]
fn condition_block_must_be_an_object_of_keys() {
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":"aws:username"}}]"#
        )),
        (
            "Statement[0].Condition.StringEquals".into(),
            "must be an object of condition keys, found a string".into()
        )
    );
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":[]}]"#
        )),
        (
            "Statement[0].Condition".into(),
            "must be an object of condition operators, found an array".into()
        )
    );
}

#[test]
fn condition_key_without_prefix_is_refused() {
    assert_eq!(
        fault(&doc(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"username":"a"}}}"#
        )),
        (
            "Statement.Condition.StringEquals.username".into(),
            "condition key \"username\" must have a service prefix, e.g. \"aws:username\"".into()
        )
    );
}

#[test]
fn bad_numeric_value_is_refused_at_its_index() {
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":["3600","an hour"]}}}]"#
        )),
        (
            "Statement[0].Condition.NumericLessThan.aws:MultiFactorAuthAge[1]".into(),
            "\"an hour\" is not a number".into()
        )
    );
}

#[test]
fn bad_date_value_is_refused() {
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-13-01T00:00:00Z"}}}]"#
        )),
        (
            "Statement[0].Condition.DateGreaterThan.aws:CurrentTime".into(),
            "\"2020-13-01T00:00:00Z\" is not a date (ISO 8601 such as 2019-07-16T12:00:00Z, or epoch seconds)".into()
        )
    );
}

#[test]
fn bad_ip_value_is_refused() {
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/40"}}}]"#
        )),
        (
            "Statement[0].Condition.IpAddress.aws:SourceIp".into(),
            "\"10.0.0.0/40\" is not an IP address or CIDR block such as 203.0.113.0/24".into()
        )
    );
}

#[test]
fn bad_bool_and_binary_values_are_refused() {
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}]"#
        )),
        (
            "Statement[0].Condition.Bool.aws:SecureTransport".into(),
            "\"yes\" is not \"true\" or \"false\"".into()
        )
    );
    assert_eq!(
        fault(&doc(r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"BinaryEquals":{"a:b":"!!"}}}]"#)).1,
        "\"!!\" is not base64"
    );
}

#[test]
fn null_condition_value_is_refused() {
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":null}}}]"#
        )),
        (
            "Statement[0].Condition.StringEquals.aws:username".into(),
            "a condition value must be a string, number or boolean, found null".into()
        )
    );
}

#[test]
fn null_operator_refuses_if_exists() {
    assert_eq!(
        fault(&doc(
            r#"[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"a:b":"true"}}}]"#
        )),
        (
            "Statement[0].Condition.NullIfExists".into(),
            "\"NullIfExists\": the Null operator takes no IfExists suffix or set qualifier".into()
        )
    );
}

#[test]
fn principal_in_identity_policy_is_refused() {
    assert_eq!(
        fault(&doc(r#"[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]"#)),
        (
            "Statement[0].Principal".into(),
            "an identity-based policy may not name a principal (Principal belongs in a role's trust policy)".into()
        )
    );
}

#[test]
fn trust_policy_without_principal_is_refused() {
    let err =
        Policy::parse_resource_policy(&doc(r#"[{"Effect":"Allow","Action":"sts:AssumeRole"}]"#));
    assert_eq!(
        err.as_ref().err().and_then(|e| e.path()),
        Some("Statement[0]")
    );
    assert_eq!(
        err.err().map(|e| e.reason().to_string()).as_deref(),
        Some("missing required element \"Principal\" (or \"NotPrincipal\")")
    );
}

#[test]
fn unknown_principal_type_is_refused_with_a_hint() {
    let err = Policy::parse_resource_policy(&doc(
        r#"[{"Effect":"Allow","Principal":{"Services":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]"#,
    ));
    assert_eq!(
        err.err(),
        Some(PolicyError::Malformed {
            path: "Statement[0].Principal.Services".into(),
            reason: "unknown principal type \"Services\"; did you mean \"Service\"?".into()
        })
    );
}

#[test]
fn wildcard_in_aws_principal_arn_is_refused() {
    let err = Policy::parse_resource_policy(&doc(
        r#"[{"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::123456789012:user/*"]},"Action":"sts:AssumeRole"}]"#,
    ));
    assert_eq!(
        err.err()
            .and_then(|e| e.path().map(String::from))
            .as_deref(),
        Some("Statement[0].Principal.AWS[1]")
    );
}

#[test]
fn invalid_sid_is_refused() {
    assert_eq!(
        fault(&doc(
            r#"[{"Sid":"allow ssm","Effect":"Allow","Action":"*","Resource":"*"}]"#
        )),
        (
            "Statement[0].Sid".into(),
            "\"allow ssm\" is not a valid Sid: use only letters A-Z, a-z and digits 0-9".into()
        )
    );
}

#[test]
fn duplicate_sid_is_refused_at_the_second() {
    assert_eq!(
        fault(&doc(
            r#"[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}]"#
        )),
        (
            "Statement[1].Sid".into(),
            "duplicate Sid \"A\"; Sids must be unique within a policy".into()
        )
    );
}

#[test]
fn error_display_reads_like_iam() {
    let e = Policy::parse(&doc(r#"[{"Effect":"Permit","Action":"*","Resource":"*"}]"#)).err();
    assert_eq!(
        e.map(|e| e.to_string()).as_deref(),
        Some(
            "MalformedPolicyDocument: Statement[0].Effect: must be \"Allow\" or \"Deny\", found \"Permit\""
        )
    );
}

#[test]
fn valid_shapes_are_accepted() {
    // Statement as an object, scalars where arrays are allowed, JSON numbers
    // and booleans as condition values, empty Sid, Id.
    let p = Policy::parse(
        r#"{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"","Effect":"Deny","NotAction":"ssm:*",
            "NotResource":["arn:aws:ec2:*:*:instance/*"],
            "Condition":{"NumericLessThan":{"a:n":5},"Bool":{"aws:SecureTransport":false},"StringEquals":{}}}}"#,
    );
    let Ok(p) = p else { panic!("{p:?}") };
    assert_eq!(p.id(), Some("x"));
    assert_eq!(p.statements().len(), 1);
    assert_eq!(p.statements()[0].sid(), None);
}
