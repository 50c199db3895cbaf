//! The shape of a ParallelCluster 3 configuration (the keys its marshmallow
//! schema accepts and the type of each), and the walk that reports unknown
//! keys, wrong types and missing required keys as diagnostics.

use crate::diagnostic::Diagnostic;
use crate::v2::reader::did_you_mean;
use crate::yaml::{Node, Value};

/// The type a key takes.
#[derive(Debug)]
pub enum T {
    Str,
    Bool,
    Int,
    /// Float or integer.
    Num,
    /// `ElasticIp`: a boolean or an EIP allocation id.
    BoolOrStr,
    /// Anything (free-form sections such as `DevSettings`).
    Any,
    /// A mapping with string keys and scalar values.
    FreeMap,
    Seq(&'static T),
    Map(&'static [F]),
}

/// One key of a mapping.
#[derive(Debug)]
pub struct F {
    pub key: &'static str,
    pub ty: T,
    pub required: bool,
}

const fn f(key: &'static str, ty: T) -> F {
    F {
        key,
        ty,
        required: false,
    }
}

const fn req(key: &'static str, ty: T) -> F {
    F {
        key,
        ty,
        required: true,
    }
}

use T::{Any, Bool, BoolOrStr, FreeMap, Int, Map, Num, Seq, Str};

const STRS: T = Seq(&Str);
const PROXY: T = Map(&[f("HttpProxyAddress", Str)]);
const IMAGE_AMI: T = Map(&[f("CustomAmi", Str)]);
const ACTION: T = Map(&[f("Script", Str), f("Args", STRS)]);
// ParallelCluster 3.6+ also accepts `Sequence: [...]` of scripts.
const ACTION_FULL: T = Map(&[f("Script", Str), f("Args", STRS), f("Sequence", Any)]);
const CUSTOM_ACTIONS: T = Map(&[
    f("OnNodeStart", ACTION_FULL),
    f("OnNodeConfigured", ACTION_FULL),
    f("OnNodeUpdated", ACTION),
]);
const POLICIES: T = Seq(&Map(&[req("Policy", Str)]));
const S3_ACCESS: T = Seq(&Map(&[
    req("BucketName", Str),
    f("KeyName", Str),
    f("EnableWriteAccess", Bool),
]));
const NODE_IAM: T = Map(&[
    f("InstanceRole", Str),
    f("InstanceProfile", Str),
    f("S3Access", S3_ACCESS),
    f("AdditionalIamPolicies", POLICIES),
]);
const ROOT_VOLUME: T = Map(&[
    f("Size", Int),
    f("Encrypted", Bool),
    f("VolumeType", Str),
    f("Iops", Int),
    f("Throughput", Int),
    f("DeleteOnTermination", Bool),
]);
const LOCAL_STORAGE: T = Map(&[
    f("RootVolume", ROOT_VOLUME),
    f("EphemeralVolume", Map(&[f("MountDir", Str)])),
]);
const DCV: T = Map(&[f("Enabled", Bool), f("Port", Int), f("AllowedIps", Str)]);
const SSH: T = Map(&[f("KeyName", Str), f("AllowedIps", Str)]);
const TAGS: T = Seq(&Map(&[req("Key", Str), req("Value", Str)]));
const CAPACITY_RESERVATION: T = Map(&[
    f("CapacityReservationId", Str),
    f("CapacityReservationResourceGroupArn", Str),
]);

const HEAD_NODE: T = Map(&[
    req("InstanceType", Str),
    req(
        "Networking",
        Map(&[
            req("SubnetId", Str),
            f("ElasticIp", BoolOrStr),
            f("SecurityGroups", STRS),
            f("AdditionalSecurityGroups", STRS),
            f("Proxy", PROXY),
        ]),
    ),
    f("DisableSimultaneousMultithreading", Bool),
    f("Ssh", SSH),
    f("LocalStorage", LOCAL_STORAGE),
    f("SharedStorageType", Str),
    f("Dcv", DCV),
    f("CustomActions", CUSTOM_ACTIONS),
    f("Iam", NODE_IAM),
    f("Imds", Map(&[f("Secured", Bool)])),
    f("Image", IMAGE_AMI),
]);

const COMPUTE_RESOURCE: T = Map(&[
    req("Name", Str),
    f("InstanceType", Str),
    f("Instances", Seq(&Map(&[req("InstanceType", Str)]))),
    f("MinCount", Int),
    f("MaxCount", Int),
    f("DynamicNodePriority", Int),
    f("StaticNodePriority", Int),
    f("SpotPrice", Num),
    f("DisableSimultaneousMultithreading", Bool),
    f("SchedulableMemory", Int),
    f("HealthChecks", Any),
    f("Efa", Map(&[f("Enabled", Bool), f("GdrSupport", Bool)])),
    f("CapacityReservationTarget", CAPACITY_RESERVATION),
    f("Networking", Map(&[f("PlacementGroup", Any)])),
    f("CustomSlurmSettings", FreeMap),
    f("Tags", TAGS),
    f("LaunchTemplateOverrides", Any),
]);

const SLURM_QUEUE: T = Map(&[
    req("Name", Str),
    f("CapacityType", Str),
    f("AllocationStrategy", Str),
    req(
        "Networking",
        Map(&[
            req("SubnetIds", STRS),
            f("AssignPublicIp", Bool),
            f("SecurityGroups", STRS),
            f("AdditionalSecurityGroups", STRS),
            f(
                "PlacementGroup",
                Map(&[f("Enabled", Bool), f("Id", Str), f("Name", Str)]),
            ),
            f("Proxy", PROXY),
        ]),
    ),
    f("CapacityReservationTarget", CAPACITY_RESERVATION),
    req("ComputeResources", Seq(&COMPUTE_RESOURCE)),
    f("CustomActions", CUSTOM_ACTIONS),
    f("Iam", NODE_IAM),
    f("Image", IMAGE_AMI),
    f("ComputeSettings", Map(&[f("LocalStorage", LOCAL_STORAGE)])),
    f("HealthChecks", Any),
    f("JobExclusiveAllocation", Bool),
    f("CustomSlurmSettings", FreeMap),
    f("Tags", TAGS),
]);

const BATCH_QUEUE: T = Map(&[
    req("Name", Str),
    f("CapacityType", Str),
    req(
        "Networking",
        Map(&[
            req("SubnetIds", STRS),
            f("AssignPublicIp", Bool),
            f("SecurityGroups", STRS),
            f("AdditionalSecurityGroups", STRS),
        ]),
    ),
    req(
        "ComputeResources",
        Seq(&Map(&[
            req("Name", Str),
            req("InstanceTypes", STRS),
            f("MinvCpus", Int),
            f("DesiredvCpus", Int),
            f("MaxvCpus", Int),
            f("SpotBidPercentage", Num),
        ])),
    ),
]);

const SCHEDULING: T = Map(&[
    req("Scheduler", Str),
    f("ScalingStrategy", Str),
    f(
        "SlurmSettings",
        Map(&[
            f("ScaledownIdletime", Int),
            f("QueueUpdateStrategy", Str),
            f("EnableMemoryBasedScheduling", Bool),
            f(
                "Dns",
                Map(&[
                    f("DisableManagedDns", Bool),
                    f("HostedZoneId", Str),
                    f("UseEc2Hostnames", Bool),
                ]),
            ),
            f(
                "Database",
                Map(&[
                    req("Uri", Str),
                    req("UserName", Str),
                    req("PasswordSecretArn", Str),
                    f("DatabaseName", Str),
                ]),
            ),
            f("ExternalSlurmdbd", Map(&[req("Host", Str), f("Port", Int)])),
            f("CustomSlurmSettings", Any),
            f("CustomSlurmSettingsIncludeFile", Str),
            f("MungeKeySecretArn", Str),
        ]),
    ),
    f("SlurmQueues", Seq(&SLURM_QUEUE)),
    f("AwsBatchQueues", Seq(&BATCH_QUEUE)),
    f("SchedulerSettings", Any),
    f("SchedulerQueues", Any),
]);

const EBS_SETTINGS: T = Map(&[
    f("VolumeType", Str),
    f("Iops", Int),
    f("Size", Int),
    f("Encrypted", Bool),
    f("KmsKeyId", Str),
    f("SnapshotId", Str),
    f("VolumeId", Str),
    f("Throughput", Int),
    f("DeletionPolicy", Str),
    f("Raid", Map(&[req("Type", Int), f("NumberOfVolumes", Int)])),
]);

const EFS_SETTINGS: T = Map(&[
    f("Encrypted", Bool),
    f("KmsKeyId", Str),
    f("PerformanceMode", Str),
    f("ThroughputMode", Str),
    f("ProvisionedThroughput", Int),
    f("FileSystemId", Str),
    f("DeletionPolicy", Str),
    f("EncryptionInTransit", Bool),
    f("IamAuthorization", Bool),
    f("AccessPointId", Str),
]);

const FSX_LUSTRE_SETTINGS: T = Map(&[
    f("StorageCapacity", Int),
    f("DeploymentType", Str),
    f("ImportedFileChunkSize", Int),
    f("DataCompressionType", Str),
    f("ExportPath", Str),
    f("ImportPath", Str),
    f("WeeklyMaintenanceStartTime", Str),
    f("AutomaticBackupRetentionDays", Int),
    f("CopyTagsToBackups", Bool),
    f("DailyAutomaticBackupStartTime", Str),
    f("PerUnitStorageThroughput", Int),
    f("BackupId", Str),
    f("KmsKeyId", Str),
    f("FileSystemId", Str),
    f("AutoImportPolicy", Str),
    f("DriveCacheType", Str),
    f("StorageType", Str),
    f("DeletionPolicy", Str),
    f("FileSystemTypeVersion", Str),
    f(
        "DataRepositoryAssociations",
        Seq(&Map(&[
            req("Name", Str),
            f("BatchImportMetaDataOnCreate", Bool),
            req("DataRepositoryPath", Str),
            req("FileSystemPath", Str),
            f("ImportedFileChunkSize", Int),
            f("AutoExportPolicy", STRS),
            f("AutoImportPolicy", STRS),
        ])),
    ),
]);

const SHARED_STORAGE: T = Seq(&Map(&[
    req("MountDir", Str),
    req("Name", Str),
    req("StorageType", Str),
    f("EbsSettings", EBS_SETTINGS),
    f("EfsSettings", EFS_SETTINGS),
    f("FsxLustreSettings", FSX_LUSTRE_SETTINGS),
    f("FsxOpenZfsSettings", Map(&[req("VolumeId", Str)])),
    f("FsxOntapSettings", Map(&[req("VolumeId", Str)])),
    f("FileCacheSettings", Map(&[req("FileCacheId", Str)])),
]));

const LOGIN_POOL: T = Map(&[
    req("Name", Str),
    req("InstanceType", Str),
    req("Count", Int),
    f("GracetimePeriod", Int),
    f("Image", IMAGE_AMI),
    req(
        "Networking",
        Map(&[
            req("SubnetIds", STRS),
            f("SecurityGroups", STRS),
            f("AdditionalSecurityGroups", STRS),
        ]),
    ),
    // 3.15 removed KeyName from login nodes' Ssh.
    f("Ssh", Map(&[f("AllowedIps", Str)])),
    f("Dcv", DCV),
    f("CustomActions", CUSTOM_ACTIONS),
    f(
        "Iam",
        Map(&[
            f("InstanceRole", Str),
            f("InstanceProfile", Str),
            f("AdditionalIamPolicies", POLICIES),
        ]),
    ),
]);

/// The whole document.
pub const ROOT: T = Map(&[
    f("Region", Str),
    req("Image", Map(&[req("Os", Str), f("CustomAmi", Str)])),
    f("Imds", Map(&[f("ImdsSupport", Str)])),
    req("HeadNode", HEAD_NODE),
    req("Scheduling", SCHEDULING),
    f("SharedStorage", SHARED_STORAGE),
    f(
        "Iam",
        Map(&[
            f("Roles", Map(&[f("LambdaFunctionsRole", Str)])),
            f("PermissionsBoundary", Str),
            f("ResourcePrefix", Str),
        ]),
    ),
    f(
        "Monitoring",
        Map(&[
            f("DetailedMonitoring", Bool),
            f(
                "Logs",
                Map(&[
                    f(
                        "CloudWatch",
                        Map(&[
                            f("Enabled", Bool),
                            f("RetentionInDays", Int),
                            f("DeletionPolicy", Str),
                        ]),
                    ),
                    f("Rotation", Map(&[f("Enabled", Bool)])),
                ]),
            ),
            f(
                "Dashboards",
                Map(&[f("CloudWatch", Map(&[f("Enabled", Bool)]))]),
            ),
            f("Alarms", Map(&[f("Enabled", Bool)])),
        ]),
    ),
    f(
        "AdditionalPackages",
        Map(&[f("IntelSoftware", Map(&[f("IntelHpcPlatform", Bool)]))]),
    ),
    f("Tags", TAGS),
    f("CustomS3Bucket", Str),
    f("AdditionalResources", Str),
    f(
        "DirectoryService",
        Map(&[
            req("DomainName", Str),
            req("DomainAddr", Str),
            req("PasswordSecretArn", Str),
            req("DomainReadOnlyUser", Str),
            f("LdapTlsCaCert", Str),
            f("LdapTlsReqCert", Str),
            f("LdapAccessFilter", Str),
            f("GenerateSshKeysForUsers", Bool),
            f("AdditionalSssdConfigs", FreeMap),
        ]),
    ),
    // 3.16's ClusterDevSettingsSchema (no AwsBatchCliPackage any more).
    f(
        "DevSettings",
        Map(&[
            f("Cookbook", Any),
            f("NodePackage", Str),
            f("ClusterTemplate", Str),
            f("AmiSearchFilters", Any),
            f("InstanceTypesData", Str),
            f("Timeouts", Any),
            f("ComputeStartupTimeMetricEnabled", Bool),
            f("EfaInterfaceType", Str),
        ]),
    ),
    f(
        "DeploymentSettings",
        Map(&[
            f("DisableSudoAccessForDefaultUser", Bool),
            f(
                "LambdaFunctionsVpcConfig",
                Map(&[f("SecurityGroupIds", STRS), f("SubnetIds", STRS)]),
            ),
            f("DefaultUserHome", Str),
        ]),
    ),
    f("LoginNodes", Map(&[req("Pools", Seq(&LOGIN_POOL))])),
]);

/// Strings marshmallow's `Boolean` field accepts as true or false.
pub fn bool_text(s: &str) -> Option<bool> {
    match s {
        "t" | "T" | "true" | "True" | "TRUE" | "on" | "On" | "ON" | "y" | "Y" | "yes" | "Yes"
        | "YES" | "1" => Some(true),
        "f" | "F" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" | "n" | "N" | "no"
        | "No" | "NO" | "0" => Some(false),
        _ => None,
    }
}

/// Collects schema diagnostics for a document.
pub struct Checker<'a> {
    pub text: &'a str,
    pub file: &'a str,
    pub diags: Vec<Diagnostic>,
}

fn type_word(t: &T) -> &'static str {
    match t {
        Str => "a string",
        Bool => "a boolean (true/false)",
        Int => "an integer",
        Num => "a number",
        BoolOrStr => "a boolean or a string",
        Any => "any value",
        FreeMap | Map(_) => "a mapping (Key: value lines)",
        Seq(_) => "a list (`- item` lines)",
    }
}

fn found(v: &Value) -> String {
    match v.scalar_text() {
        Some(t) if matches!(v, Value::Str(_)) => format!("the string '{t}'"),
        Some(t) => format!("{} `{t}`", v.type_name()),
        None => format!("a {}", v.type_name()),
    }
}

/// Python's `str.strip()` whitespace, as `int()`/`float()` ignore it.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

/// Python allows `_` between digits in numeric literals (`1_000`).
fn drop_digit_underscores(s: &str) -> Option<String> {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let before = i.checked_sub(1).and_then(|j| b.get(j));
            let after = b.get(i + 1);
            if !before.is_some_and(u8::is_ascii_digit) || !after.is_some_and(u8::is_ascii_digit) {
                return None;
            }
        }
    }
    Some(s.replace('_', ""))
}

/// Python's `int(text)` for a decimal string, within `i64`.
fn py_int(text: &str) -> Option<i64> {
    let t = drop_digit_underscores(py_strip(text))?;
    let digits = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Python's `float(text)`, finite values only (marshmallow's `Float`
/// refuses nan and infinity).
fn py_float(text: &str) -> Option<f64> {
    let t = drop_digit_underscores(py_strip(text))?;
    let body = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

impl Checker<'_> {
    /// Converts values as marshmallow's (non-strict) fields do before they
    /// are checked: `Int` is Python's `int(value)`, so `"10"`, `" 10 "` and
    /// `10.0` are 10 and `10.5` is truncated to 10 (with a warning here);
    /// `Num` (`Float`) is `float(value)`, so `"0.5"` is 0.5. Booleans are
    /// not numbers, as in marshmallow.
    pub fn coerce(&mut self, node: &mut Node, ty: &T, path: &str) {
        match (ty, &mut node.value) {
            (Int, Value::Str(s)) => {
                if let Some(i) = py_int(s) {
                    node.value = Value::Int(i);
                }
            }
            (Int, Value::Float(f)) => {
                let (f, t) = (*f, f.trunc());
                // i64's range, exactly representable as f64.
                if f.is_finite() && t.abs() < 9.0e18 {
                    if t != f {
                        let d = Diagnostic::warning(
                            format!(
                                "{path} is {}; ParallelCluster reads it as the integer {}",
                                crate::yaml::emit::python_float_repr(f),
                                t as i64
                            ),
                            self.file,
                        )
                        .at(self.text, node.span, "truncated")
                        .with_hint(format!("write {}", t as i64));
                        self.diags.push(d);
                    }
                    node.value = Value::Int(t as i64);
                }
            }
            (Num, Value::Str(s)) => {
                if let Some(f) = py_float(s) {
                    node.value = Value::Float(f);
                }
            }
            (Seq(item), Value::Seq(items)) => {
                for (i, it) in items.iter_mut().enumerate() {
                    self.coerce(it, item, &format!("{path}[{i}]"));
                }
            }
            (Map(fields), Value::Map(entries)) => {
                for (k, v) in entries.iter_mut() {
                    let Value::Str(key) = &k.value else { continue };
                    if let Some(fd) = fields.iter().find(|fd| fd.key == key.as_str()) {
                        let child = if path.is_empty() {
                            key.clone()
                        } else {
                            format!("{path}/{key}")
                        };
                        self.coerce(v, &fd.ty, &child);
                    }
                }
            }
            _ => {}
        }
    }

    fn error(
        &mut self,
        node_span: crate::span::Span,
        msg: String,
        label: &str,
        hint: Option<String>,
    ) {
        let mut d = Diagnostic::error(msg, self.file).at(self.text, node_span, label);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.diags.push(d);
    }

    /// Checks `node` against `ty`; `path` names it in messages.
    pub fn check(&mut self, node: &Node, ty: &T, path: &str) {
        let ok = match (ty, &node.value) {
            (Any, _) => true,
            (Str, Value::Str(_)) => true,
            (Bool, Value::Bool(_)) => true,
            (Bool, Value::Str(s)) => bool_text(s).is_some(),
            (Bool, Value::Int(i)) => *i == 0 || *i == 1,
            (Int, Value::Int(_)) => true,
            (Num, Value::Int(_)) => true,
            (Num, Value::Float(f)) if f.is_finite() => true,
            (Num, Value::Float(_)) => {
                self.error(
                    node.span,
                    format!("{path}: Special numeric values (nan or infinity) are not permitted."),
                    "not a finite number",
                    Some("write a finite number, e.g. 0.5".into()),
                );
                true
            }
            (BoolOrStr, Value::Bool(_) | Value::Str(_)) => true,
            (FreeMap, Value::Map(entries)) => {
                for (k, v) in entries {
                    if !matches!(k.value, Value::Str(_)) {
                        self.error(
                            k.span,
                            format!("Keys of {path} must be strings"),
                            "not a string",
                            None,
                        );
                    }
                    if matches!(v.value, Value::Map(_) | Value::Seq(_)) {
                        self.error(
                            v.span,
                            format!("Values of {path} must be plain values"),
                            "not a plain value",
                            None,
                        );
                    }
                }
                true
            }
            (Seq(item), Value::Seq(items)) => {
                for (i, it) in items.iter().enumerate() {
                    self.check(it, item, &format!("{path}[{i}]"));
                }
                true
            }
            (Map(fields), Value::Map(entries)) => {
                self.check_map(node, fields, entries, path);
                true
            }
            _ => false,
        };
        if !ok {
            let hint = match (&node.value, ty) {
                (Value::Bool(_), Str) => Some(
                    "YAML 1.1 (as ParallelCluster reads it) takes yes/no/on/off/true/false as booleans; quote the value to keep it a string"
                        .to_string(),
                ),
                (Value::Int(_) | Value::Float(_), Str) => Some("quote the value to make it a string".to_string()),
                (Value::Null, _) => Some("give a value after the colon, or remove the key".to_string()),
                (Value::Str(_), Int) => Some("write a whole number, e.g. 10".to_string()),
                (Value::Str(_), Num) => Some("write a number, e.g. 0.5".to_string()),
                _ => None,
            };
            self.error(
                node.span,
                format!(
                    "{path} must be {}, but found {}",
                    type_word(ty),
                    found(&node.value)
                ),
                "wrong type",
                hint,
            );
        }
    }

    fn check_map(&mut self, node: &Node, fields: &[F], entries: &[(Node, Node)], path: &str) {
        for (k, v) in entries {
            let Value::Str(key) = &k.value else {
                self.error(
                    k.span,
                    format!("Keys of {path} must be strings"),
                    "not a string",
                    None,
                );
                continue;
            };
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}/{key}")
            };
            match fields.iter().find(|fd| fd.key == key.as_str()) {
                Some(fd) => self.check(v, &fd.ty, &child),
                None => {
                    let names = fields.iter().map(|fd| fd.key);
                    let hint = match did_you_mean(key, names.clone()) {
                        Some(s) => format!("did you mean '{s}'?"),
                        None => format!("allowed here: {}", names.collect::<Vec<_>>().join(", ")),
                    };
                    let place = if path.is_empty() {
                        "at the top level".to_string()
                    } else {
                        format!("in {path}")
                    };
                    let message = if key == "KeyName" && path.starts_with("LoginNodes/Pools") {
                        format!(
                            "{child}: Starting with ParallelCluster 3.15, the KeyName parameter is no longer supported for Login Nodes. Remove from the configuration and try again."
                        )
                    } else {
                        format!("Unknown field '{key}' {place}")
                    };
                    self.error(k.span, message, "unknown field", Some(hint));
                }
            }
        }
        for fd in fields.iter().filter(|fd| fd.required) {
            let present = entries
                .iter()
                .any(|(k, _)| matches!(&k.value, Value::Str(s) if s == fd.key));
            if !present {
                let place = if path.is_empty() {
                    "the configuration".to_string()
                } else {
                    path.to_string()
                };
                let start =
                    crate::span::Span::new(node.span.line, node.span.col, node.span.offset, 0);
                self.error(
                    start,
                    format!("Missing required field '{}' in {place}", fd.key),
                    "required field missing",
                    Some(format!("add `{}:`", fd.key)),
                );
            }
        }
    }
}
