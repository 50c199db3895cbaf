//! Every condition operator, each with a case that holds and one that does not.

mod common;
use common::holds;

#[test]
fn string_equals_matches_exact_value_only() {
    let c = r#"{"StringEquals":{"aws:username":"john"}}"#;
    assert!(holds(c, &[("aws:username", "john")]));
    assert!(!holds(c, &[("aws:username", "John")]));
    assert!(!holds(c, &[("aws:username", "jo*")]));
}

#[test]
fn string_equals_treats_wildcards_as_literals() {
    let c = r#"{"StringEquals":{"aws:username":"jo*"}}"#;
    assert!(holds(c, &[("aws:username", "jo*")]));
    assert!(!holds(c, &[("aws:username", "john")]));
}

#[test]
fn string_not_equals_holds_for_other_values() {
    let c = r#"{"StringNotEquals":{"aws:username":["john","mary"]}}"#;
    assert!(holds(c, &[("aws:username", "bob")]));
    assert!(!holds(c, &[("aws:username", "mary")]));
}

#[test]
fn string_equals_ignore_case_ignores_case() {
    let c = r#"{"StringEqualsIgnoreCase":{"aws:username":"John"}}"#;
    assert!(holds(c, &[("aws:username", "jOHN")]));
    assert!(!holds(c, &[("aws:username", "johnny")]));
}

#[test]
fn string_not_equals_ignore_case_fails_for_same_word_in_other_case() {
    let c = r#"{"StringNotEqualsIgnoreCase":{"aws:username":"John"}}"#;
    assert!(!holds(c, &[("aws:username", "JOHN")]));
    assert!(holds(c, &[("aws:username", "mary")]));
}

#[test]
fn string_like_supports_star_and_question_mark() {
    let c = r#"{"StringLike":{"ssm:resourceTag/Team":["hpc-*","ops?"]}}"#;
    assert!(holds(c, &[("ssm:resourceTag/Team", "hpc-west")]));
    assert!(holds(c, &[("ssm:resourceTag/Team", "ops1")]));
    assert!(!holds(c, &[("ssm:resourceTag/Team", "ops12")]));
    assert!(!holds(c, &[("ssm:resourceTag/Team", "HPC-west")]));
}

#[test]
fn string_not_like_holds_when_no_pattern_matches() {
    let c = r#"{"StringNotLike":{"ssm:resourceTag/Environment":"Prod*"}}"#;
    assert!(holds(c, &[("ssm:resourceTag/Environment", "Dev")]));
    assert!(!holds(c, &[("ssm:resourceTag/Environment", "Production")]));
}

#[test]
fn numeric_equals_compares_numbers_not_text() {
    let c = r#"{"NumericEquals":{"s3:max-keys":10}}"#;
    assert!(holds(c, &[("s3:max-keys", "10.0")]));
    assert!(!holds(c, &[("s3:max-keys", "11")]));
    assert!(!holds(c, &[("s3:max-keys", "ten")]));
}

#[test]
fn numeric_not_equals_holds_for_other_numbers() {
    let c = r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#;
    assert!(holds(c, &[("s3:max-keys", "9")]));
    assert!(!holds(c, &[("s3:max-keys", "10")]));
}

#[test]
fn numeric_less_than_is_strict() {
    let c = r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}"#;
    assert!(holds(c, &[("aws:MultiFactorAuthAge", "3599")]));
    assert!(!holds(c, &[("aws:MultiFactorAuthAge", "3600")]));
}

#[test]
fn numeric_less_than_equals_includes_the_bound() {
    let c = r#"{"NumericLessThanEquals":{"aws:MultiFactorAuthAge":"3600"}}"#;
    assert!(holds(c, &[("aws:MultiFactorAuthAge", "3600")]));
    assert!(!holds(c, &[("aws:MultiFactorAuthAge", "3600.5")]));
}

#[test]
fn numeric_greater_than_is_strict() {
    let c = r#"{"NumericGreaterThan":{"ec2:VolumeSize":"-1.5"}}"#;
    assert!(holds(c, &[("ec2:VolumeSize", "0")]));
    assert!(!holds(c, &[("ec2:VolumeSize", "-1.5")]));
}

#[test]
fn numeric_greater_than_equals_includes_the_bound() {
    let c = r#"{"NumericGreaterThanEquals":{"ec2:VolumeSize":"100"}}"#;
    assert!(holds(c, &[("ec2:VolumeSize", "100")]));
    assert!(!holds(c, &[("ec2:VolumeSize", "99")]));
}

#[test]
fn date_equals_accepts_iso_and_epoch_forms_of_the_same_instant() {
    let c = r#"{"DateEquals":{"aws:CurrentTime":"2019-07-16T12:00:00Z"}}"#;
    assert!(holds(c, &[("aws:CurrentTime", "1563278400")]));
    assert!(holds(
        c,
        &[("aws:CurrentTime", "2019-07-16T14:00:00+02:00")]
    ));
    assert!(!holds(c, &[("aws:CurrentTime", "2019-07-16T12:00:01Z")]));
}

#[test]
fn date_not_equals_holds_for_other_instants() {
    let c = r#"{"DateNotEquals":{"aws:CurrentTime":"1563278400"}}"#;
    assert!(holds(c, &[("aws:CurrentTime", "2019-07-17T00:00:00Z")]));
    assert!(!holds(c, &[("aws:CurrentTime", "2019-07-16T12:00:00Z")]));
}

#[test]
fn date_less_than_is_strict() {
    let c = r#"{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#;
    assert!(holds(c, &[("aws:CurrentTime", "2019-12-31T23:59:59Z")]));
    assert!(!holds(c, &[("aws:CurrentTime", "2020-01-01T00:00:00Z")]));
}

#[test]
fn date_less_than_equals_includes_the_bound() {
    let c = r#"{"DateLessThanEquals":{"aws:CurrentTime":"2020-01-01"}}"#;
    assert!(holds(c, &[("aws:CurrentTime", "2020-01-01T00:00:00Z")]));
    assert!(!holds(
        c,
        &[("aws:CurrentTime", "2020-01-01T00:00:00.001Z")]
    ));
}

#[test]
fn date_greater_than_is_strict() {
    let c = r#"{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#;
    assert!(holds(c, &[("aws:CurrentTime", "2020-06-01T00:00:00Z")]));
    assert!(!holds(c, &[("aws:CurrentTime", "2020-01-01T00:00:00Z")]));
    assert!(!holds(c, &[("aws:CurrentTime", "not a date")]));
}

#[test]
fn date_greater_than_equals_includes_the_bound() {
    let c = r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"1577836800"}}"#;
    assert!(holds(c, &[("aws:CurrentTime", "2020-01-01T00:00:00Z")]));
    assert!(!holds(c, &[("aws:CurrentTime", "2019-12-31T23:59:59Z")]));
}

#[test]
fn bool_matches_true_and_false_in_any_case() {
    let c = r#"{"Bool":{"aws:SecureTransport":"true"}}"#;
    assert!(holds(c, &[("aws:SecureTransport", "TRUE")]));
    assert!(!holds(c, &[("aws:SecureTransport", "false")]));
    assert!(!holds(c, &[("aws:SecureTransport", "yes")]));
    let c = r#"{"Bool":{"aws:SecureTransport":false}}"#;
    assert!(holds(c, &[("aws:SecureTransport", "false")]));
}

#[test]
fn binary_equals_compares_decoded_bytes() {
    let c = r#"{"BinaryEquals":{"app:Blob":"QmluYXJ5VmFsdWU="}}"#;
    assert!(holds(c, &[("app:Blob", "QmluYXJ5VmFsdWU=")]));
    assert!(holds(c, &[("app:Blob", "QmluYXJ5VmFsdWU")]));
    assert!(!holds(c, &[("app:Blob", "QmluYXJ5VmFsdWF=")]));
}

#[test]
fn ip_address_matches_v4_and_v6_blocks() {
    let c = r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:DB8:1234:5678::/64"]}}"#;
    assert!(holds(c, &[("aws:SourceIp", "203.0.113.9")]));
    assert!(holds(c, &[("aws:SourceIp", "2001:db8:1234:5678::1")]));
    assert!(!holds(c, &[("aws:SourceIp", "203.0.114.9")]));
    assert!(!holds(c, &[("aws:SourceIp", "2001:db8:1234:5679::1")]));
}

#[test]
fn ip_address_without_prefix_is_a_single_host() {
    let c = r#"{"IpAddress":{"aws:SourceIp":"10.1.2.3"}}"#;
    assert!(holds(c, &[("aws:SourceIp", "10.1.2.3")]));
    assert!(!holds(c, &[("aws:SourceIp", "10.1.2.4")]));
}

#[test]
fn not_ip_address_holds_outside_the_blocks() {
    let c = r#"{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#;
    assert!(holds(c, &[("aws:SourceIp", "198.51.100.1")]));
    assert!(!holds(c, &[("aws:SourceIp", "192.0.2.77")]));
}

#[test]
fn arn_equals_matches_exact_arn_and_wildcards_per_segment() {
    let c = r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:123456789012:topic"}}"#;
    assert!(holds(
        c,
        &[("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:topic")]
    ));
    assert!(!holds(
        c,
        &[("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:Topic")]
    ));
}

#[test]
fn arn_like_wildcards_match_within_a_segment() {
    let c = r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/cluster-*"}}"#;
    assert!(holds(
        c,
        &[(
            "aws:PrincipalArn",
            "arn:aws:iam::123456789012:role/cluster-head"
        )]
    ));
    assert!(!holds(
        c,
        &[(
            "aws:PrincipalArn",
            "arn:aws:iam::123456789012:user/cluster-head"
        )]
    ));
}

#[test]
fn arn_like_wildcard_does_not_span_segments() {
    // A whole-string glob would let the region `*` eat the account and the
    // extra `x:` part; ArnLike compares the six parts one by one.
    let c = r#"{"ArnLike":{"aws:SourceArn":"arn:aws:ec2:us-*:*:instance/*"}}"#;
    assert!(holds(
        c,
        &[(
            "aws:SourceArn",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
        )]
    ));
    assert!(!holds(
        c,
        &[(
            "aws:SourceArn",
            "arn:aws:ec2:us-east-1:123456789012:x:instance/i-1"
        )]
    ));
}

#[test]
fn arn_not_equals_holds_for_other_arns() {
    let c = r#"{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/alice"}}"#;
    assert!(holds(
        c,
        &[("aws:PrincipalArn", "arn:aws:iam::123456789012:user/bob")]
    ));
    assert!(!holds(
        c,
        &[("aws:PrincipalArn", "arn:aws:iam::123456789012:user/alice")]
    ));
}

#[test]
fn arn_not_like_holds_when_no_pattern_matches() {
    let c = r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/admin-*"}}"#;
    assert!(holds(
        c,
        &[("aws:PrincipalArn", "arn:aws:iam::123456789012:role/user-1")]
    ));
    assert!(!holds(
        c,
        &[("aws:PrincipalArn", "arn:aws:iam::123456789012:role/admin-1")]
    ));
}

#[test]
fn null_true_requires_the_key_to_be_absent() {
    let c = r#"{"Null":{"aws:TokenIssueTime":"true"}}"#;
    assert!(holds(c, &[]));
    assert!(!holds(c, &[("aws:TokenIssueTime", "2020-01-01T00:00:00Z")]));
}

#[test]
fn null_false_requires_the_key_to_be_present() {
    let c = r#"{"Null":{"aws:TokenIssueTime":"false"}}"#;
    assert!(holds(c, &[("aws:TokenIssueTime", "2020-01-01T00:00:00Z")]));
    assert!(!holds(c, &[]));
}

#[test]
fn values_of_one_key_are_ored_keys_and_operators_are_anded() {
    let c = r#"{"StringEquals":{"aws:username":["alice","bob"],"aws:PrincipalTag/team":"hpc"},
               "IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#;
    let ok = [
        ("aws:username", "bob"),
        ("aws:PrincipalTag/team", "hpc"),
        ("aws:SourceIp", "10.9.9.9"),
    ];
    assert!(holds(c, &ok));
    assert!(!holds(c, &[ok[0], ok[1], ("aws:SourceIp", "11.0.0.1")]));
    assert!(!holds(c, &[ok[0], ("aws:PrincipalTag/team", "ops"), ok[2]]));
    assert!(!holds(c, &[("aws:username", "carol"), ok[1], ok[2]]));
}

#[test]
fn condition_key_names_are_case_insensitive() {
    let c = r#"{"StringEquals":{"AWS:UserName":"alice"}}"#;
    assert!(holds(c, &[("aws:username", "alice")]));
    let c = r#"{"IpAddress":{"aws:sourceip":"10.0.0.0/8"}}"#;
    assert!(holds(c, &[("AWS:SourceIp", "10.1.1.1")]));
}

#[test]
fn positive_operator_with_missing_key_fails() {
    assert!(!holds(r#"{"StringEquals":{"aws:username":"alice"}}"#, &[]));
    assert!(!holds(r#"{"NumericLessThan":{"s3:max-keys":"10"}}"#, &[]));
    assert!(!holds(r#"{"Bool":{"aws:SecureTransport":"true"}}"#, &[]));
    assert!(!holds(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#, &[]));
}

#[test]
fn negated_operator_with_missing_key_holds() {
    assert!(holds(
        r#"{"StringNotEquals":{"aws:username":"alice"}}"#,
        &[]
    ));
    assert!(holds(r#"{"StringNotLike":{"aws:username":"a*"}}"#, &[]));
    assert!(holds(r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:*"}}"#, &[]));
    assert!(holds(
        r#"{"NotIpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
        &[]
    ));
    assert!(holds(r#"{"NumericNotEquals":{"s3:max-keys":"1"}}"#, &[]));
    assert!(holds(r#"{"DateNotEquals":{"aws:CurrentTime":"1"}}"#, &[]));
}
