//! `airlock config convert`: ParallelCluster v2 INI to v3 YAML, with the
//! flags, warnings and errors of `pcluster3-config-converter`. Warnings go
//! to stderr, the YAML to stdout or to `-o FILE` (never overwritten).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use airlock_config::convert::{ConvertErrorKind, ConvertOptions, convert_with};

/// Exit code when the converter refuses the configuration.
const CONVERSION_FAILED: i32 = 1;
/// Exit code for unreadable or malformed input, or an output file in the way.
const BAD_INPUT: i32 = 2;

#[derive(clap::Args, Clone, Debug)]
pub struct ConvertArgs {
    /// v2 configuration file [default: $AIRLOCK_CLUSTER_CONFIG, else ~/.airlock/cluster-config].
    #[arg(short = 'c', long = "config-file", env = "AIRLOCK_CLUSTER_CONFIG")]
    pub config_file: Option<PathBuf>,
    /// Write the v3 YAML here instead of stdout (must not exist yet).
    #[arg(short = 'o', long = "output-file")]
    pub output_file: Option<PathBuf>,
    /// The [cluster TEMPLATE] section to convert [default: [global] cluster_template, else default].
    #[arg(short = 't', long = "cluster-template")]
    pub cluster_template: Option<String>,
    /// Also convert parameters that are not officially supported (extra_json, template_url, ...).
    #[arg(long = "force-convert")]
    pub force_convert: bool,
}

/// The input file: `-c`/`$AIRLOCK_CLUSTER_CONFIG` (through clap), else
/// `~/.airlock/cluster-config`.
fn input_path(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".airlock").join("cluster-config")),
    }
}

pub fn run(args: ConvertArgs) -> anyhow::Result<i32> {
    let Some(path) = input_path(args.config_file.as_deref()) else {
        eprintln!(
            "ERROR: no configuration file: pass -c FILE or set AIRLOCK_CLUSTER_CONFIG (HOME is not set)"
        );
        return Ok(BAD_INPUT);
    };
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ERROR: cannot read the configuration file {name}: {e}");
            return Ok(BAD_INPUT);
        }
    };
    let options = ConvertOptions {
        cluster_template: args.cluster_template.clone(),
        force_convert: args.force_convert,
        default_region: std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok(),
        ..ConvertOptions::default()
    };
    let converted = match convert_with(&text, &options) {
        Ok(c) => c,
        Err(e) => {
            for w in &e.warnings {
                eprintln!("{w}");
            }
            return Ok(match &e.kind {
                ConvertErrorKind::Ini(ini_err) => {
                    eprintln!("ERROR: Error parsing configuration file {name}.");
                    eprintln!(
                        "{}",
                        airlock_config::v2::ini_error_diagnostic(ini_err, &text, &name)
                    );
                    BAD_INPUT
                }
                ConvertErrorKind::Conversion | ConvertErrorKind::Unexpected => {
                    eprintln!("ERROR: {e}");
                    CONVERSION_FAILED
                }
            });
        }
    };
    // The converter prints its notes on stdout; so does airlock when the
    // YAML goes to a file. Written to stdout, the YAML stays alone there
    // (notes on stderr), so that `> cluster.yaml` gives a valid file.
    for w in &converted.warnings {
        if args.output_file.is_some() {
            println!("{w}");
        } else {
            eprintln!("{w}");
        }
    }
    match &args.output_file {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(converted.yaml.as_bytes())?;
            out.flush()?;
            Ok(0)
        }
        Some(out) => match write_new(out, &converted.yaml) {
            Ok(()) => {
                println!("Configuration file written to {}", out.display());
                Ok(0)
            }
            Err(WriteError::Exists) => {
                eprintln!(
                    "ERROR: File {} already exists, please select another output file.",
                    out.display()
                );
                Ok(BAD_INPUT)
            }
            Err(WriteError::Io(e)) => {
                eprintln!("ERROR: cannot write {}: {e}", out.display());
                Ok(CONVERSION_FAILED)
            }
        },
    }
}

enum WriteError {
    Exists,
    Io(std::io::Error),
}

/// Creates `path` (and its folder) readable by the owner only, as the
/// converter does, refusing to replace an existing file.
fn write_new(path: &Path, text: &str) -> Result<(), WriteError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if path.exists() {
        return Err(WriteError::Exists);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(WriteError::Io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                WriteError::Exists
            } else {
                WriteError::Io(e)
            }
        })?;
    f.write_all(text.as_bytes()).map_err(WriteError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INI: &str = "[aws]\naws_region_name = eu-west-1\n[global]\ncluster_template = c\n[cluster c]\n\
scheduler = slurm\nbase_os = alinux2\nvpc_settings = v\nkey_name = k\n[vpc v]\nmaster_subnet_id = subnet-1\n";

    fn args(dir: &Path, ini: &str, out: Option<&str>) -> ConvertArgs {
        let input = dir.join("config.ini");
        std::fs::write(&input, ini).unwrap();
        ConvertArgs {
            config_file: Some(input),
            output_file: out.map(|o| dir.join(o)),
            cluster_template: None,
            force_convert: false,
        }
    }

    #[test]
    fn writes_output_file_owner_only_and_refuses_to_overwrite_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let a = args(dir.path(), INI, Some("sub/out.yaml"));
        assert_eq!(run(a.clone()).unwrap(), 0);
        let out = dir.path().join("sub/out.yaml");
        let written = std::fs::read_to_string(&out).unwrap();
        assert!(written.contains("Scheduler: slurm"), "{written}");
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&out, "keep me").unwrap();
        assert_eq!(run(a).unwrap(), BAD_INPUT);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    }

    #[test]
    fn converter_refusal_exits_1_and_bad_ini_exits_2() {
        let dir = tempfile::tempdir().unwrap();
        let no_vpc = INI.replace("vpc_settings = v\n", "");
        assert_eq!(
            run(args(dir.path(), &no_vpc, None)).unwrap(),
            CONVERSION_FAILED
        );
        assert_eq!(
            run(args(dir.path(), "[cluster c]\nthis is not ini\n", None)).unwrap(),
            BAD_INPUT
        );
    }

    #[test]
    fn missing_input_file_exits_2() {
        let dir = tempfile::tempdir().unwrap();
        let a = ConvertArgs {
            config_file: Some(dir.path().join("absent")),
            output_file: None,
            cluster_template: None,
            force_convert: false,
        };
        assert_eq!(run(a).unwrap(), BAD_INPUT);
    }
}
