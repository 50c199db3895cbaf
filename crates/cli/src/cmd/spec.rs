//! Commands described as data. Each API operation the CLI passes through
//! (`airlock iam create-user`, `airlock ec2 describe-key-pairs`, …) is one
//! [`Op`]: its command name, the API operation, its parameters (flag, JSON
//! key, kind) and how its result prints. [`command`] turns an `Op` into a clap
//! subcommand, [`body`] turns the parsed flags into the request body, and
//! [`run`] calls the server and prints. What an operation does beyond one call
//! and a standard printout is a hook in its description ([`Kind::Shorthand`],
//! [`Print::Hook`]), not a branch of its own.
//!
//! A service (`iam`, `ec2`, …) lists its operations in a [`Service`]; the type
//! [`Call<S>`] implements `clap::Subcommand`, so a service's commands plug into
//! the derived CLI in `main.rs` as any other subcommand enum would.

use std::marker::PhantomData;

use anyhow::{Context, anyhow};
use clap::builder::PossibleValuesParser;
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches};
use serde_json::{Map, Value, json};

use crate::Global;
use crate::client::ApiClient;
use crate::output::{self, s};

/// One API operation as a subcommand.
pub struct Op {
    /// The AWS CLI's command name, kebab-case: `create-user`.
    pub name: &'static str,
    /// The API operation: `CreateUser`.
    pub action: &'static str,
    /// One line of help; empty for none.
    pub about: &'static str,
    pub params: &'static [Param],
    /// Body fields that never change (`"ResourceType": "ManagedInstance"`).
    pub fixed: &'static [(&'static str, &'static str)],
    pub print: Print,
    /// Arguments after the command name, shown in `--help`; the tests parse
    /// them. Words are split at spaces, so no value in an example has one.
    pub example: &'static str,
}

/// An operation with no parameters that prints nothing.
pub const fn op(name: &'static str, action: &'static str) -> Op {
    Op {
        name,
        action,
        about: "",
        params: &[],
        fixed: &[],
        print: Print::Nothing,
        example: "",
    }
}

impl Op {
    pub const fn about(mut self, about: &'static str) -> Self {
        self.about = about;
        self
    }
    pub const fn params(mut self, params: &'static [Param]) -> Self {
        self.params = params;
        self
    }
    pub const fn fixed(mut self, fixed: &'static [(&'static str, &'static str)]) -> Self {
        self.fixed = fixed;
        self
    }
    pub const fn prints(mut self, print: Print) -> Self {
        self.print = print;
        self
    }
    pub const fn example(mut self, example: &'static str) -> Self {
        self.example = example;
        self
    }
}

/// One flag of an operation.
#[derive(Clone, Copy)]
pub struct Param {
    /// The long flag without its dashes: `user-name`.
    pub flag: &'static str,
    /// The body's key: `UserName`. Empty for a flag only the client reads
    /// (a hook's, such as `--save-profile`).
    pub key: &'static str,
    pub kind: Kind,
    /// Help text; empty for none.
    pub help: &'static str,
}

impl Param {
    pub const fn new(flag: &'static str, key: &'static str, kind: Kind) -> Self {
        Self {
            flag,
            key,
            kind,
            help: "",
        }
    }
    pub const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }
}

/// What a flag takes and what it puts in the body.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A required string.
    Str,
    /// An optional string; absent, the key is `null`.
    OptStr,
    /// A string with this default.
    Default(&'static str),
    /// One of these values (required).
    OneOf(&'static [&'static str]),
    /// An integer with this default; the body has it times `times`
    /// (`--expires-in-hours` → `ExpiresInSeconds`).
    Int { default: &'static str, times: i64 },
    /// One or more values (`--key-names a b`); absent, `[]`.
    List { required: bool },
    /// Shorthand items (`Key=K,Value=V`), each made a JSON value by `parse`;
    /// absent, `[]`.
    Shorthand {
        parse: fn(&str) -> anyhow::Result<Value>,
        required: bool,
    },
    /// JSON text or `file://PATH`, read (required); `non_empty` refuses an
    /// empty text.
    Document { non_empty: bool },
    /// A switch; `false` when absent.
    Bool,
}

/// Tags in the AWS CLI's shorthand, `Key=K,Value=V` (repeatable).
pub const fn tags(required: bool) -> Kind {
    Kind::Shorthand {
        parse: tag,
        required,
    }
}

/// How an operation's result prints.
pub enum Print {
    /// The result as pretty JSON.
    Value,
    /// A table of the array at `list`, one row per item; `--json` prints the
    /// result as it came.
    Table {
        list: &'static str,
        cols: &'static [Col],
    },
    /// Nothing.
    Nothing,
    /// The operation's own printing, and any effect on the client's side
    /// (saving a profile), once the call has succeeded.
    Hook(fn(&Ctx, &Value) -> anyhow::Result<()>),
}

/// A table of the array at `list`.
pub const fn table(list: &'static str, cols: &'static [Col]) -> Print {
    Print::Table { list, cols }
}

/// A table column: its header and what each row shows.
pub struct Col {
    pub header: &'static str,
    pub cell: Cell,
}

pub enum Cell {
    /// A field of the item.
    Key(&'static str),
    /// The item itself, a string (a list of names).
    Item,
    /// Computed from the item.
    Fn(fn(&Value) -> String),
}

/// The column `key`, headed by its own name.
pub const fn col(key: &'static str) -> Col {
    Col {
        header: key,
        cell: Cell::Key(key),
    }
}

/// The column `key` under another header.
pub const fn col_as(header: &'static str, key: &'static str) -> Col {
    Col {
        header,
        cell: Cell::Key(key),
    }
}

/// A computed column.
pub const fn col_fn(header: &'static str, f: fn(&Value) -> String) -> Col {
    Col {
        header,
        cell: Cell::Fn(f),
    }
}

/// What a hook sees: the global options and the parsed flags.
pub struct Ctx<'a> {
    pub g: &'a Global,
    pub args: &'a ArgMatches,
}

impl Ctx<'_> {
    /// A switch (`Kind::Bool`) by its flag name.
    pub fn flag(&self, flag: &str) -> bool {
        self.args.get_flag(flag)
    }
    /// A string flag by its flag name.
    pub fn string(&self, flag: &str) -> Option<&str> {
        self.args.get_one::<String>(flag).map(String::as_str)
    }
}

/// A group of operations under one command (`airlock iam …`).
pub trait Service: 'static {
    /// The API's service: `POST /v1/{SERVICE}/{Operation}`.
    const SERVICE: &'static str;
    /// The command above the operations (`iam`), for the examples in `--help`.
    const COMMAND: &'static str;
    /// The operations, one table per resource, in the order `--help` lists them.
    const OPS: &'static [&'static [Op]];

    fn ops() -> impl Iterator<Item = &'static Op> {
        Self::OPS.iter().flat_map(|r| r.iter())
    }
}

/// A parsed command of service `S`: the operation and its flags.
pub struct Call<S> {
    pub op: &'static Op,
    pub args: ArgMatches,
    service: PhantomData<S>,
}

impl<S: Service> Call<S> {
    pub fn run(&self, g: &Global) -> anyhow::Result<i32> {
        run(g, S::SERVICE, self.op, &self.args)
    }
}

impl<S: Service> clap::FromArgMatches for Call<S> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let Some((name, args)) = m.subcommand() else {
            return Err(clap::Error::raw(
                ErrorKind::MissingSubcommand,
                "a subcommand is required\n",
            ));
        };
        let op = S::ops().find(|o| o.name == name).ok_or_else(|| {
            clap::Error::raw(
                ErrorKind::InvalidSubcommand,
                format!("unrecognized subcommand '{name}'\n"),
            )
        })?;
        Ok(Self {
            op,
            args: args.clone(),
            service: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl<S: Service> clap::Subcommand for Call<S> {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        cmd.subcommands(S::ops().map(|o| command(S::COMMAND, o)))
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        S::ops().any(|o| o.name == name)
    }
}

/// The placeholder of a flag's value in `--help`: `user-name` → `USER_NAME`,
/// as clap's derive writes it. Leaked: clap (without its `string` feature)
/// keeps only `&'static str`, and the commands are built once or twice a run.
fn value_name(flag: &str) -> &'static str {
    String::leak(flag.replace('-', "_").to_uppercase())
}

/// The clap subcommand of an operation (under `airlock {parent}`).
pub fn command(parent: &str, op: &Op) -> clap::Command {
    let mut c = clap::Command::new(op.name);
    if !op.about.is_empty() {
        c = c.about(op.about);
    }
    if !op.example.is_empty() {
        c = c.after_help(format!(
            "Example:\n  airlock {parent} {} {}",
            op.name, op.example
        ));
    }
    c.args(op.params.iter().map(arg))
}

fn arg(p: &Param) -> Arg {
    let mut a = Arg::new(p.flag).long(p.flag).value_name(value_name(p.flag));
    if !p.help.is_empty() {
        a = a.help(p.help);
    }
    match p.kind {
        Kind::Str | Kind::Document { .. } => a.action(ArgAction::Set).required(true),
        Kind::OptStr => a.action(ArgAction::Set),
        Kind::Default(d) => a.action(ArgAction::Set).default_value(d),
        Kind::OneOf(values) => a
            .action(ArgAction::Set)
            .required(true)
            .value_parser(PossibleValuesParser::new(values)),
        Kind::Int { default, .. } => a
            .action(ArgAction::Set)
            .value_parser(clap::value_parser!(i64))
            .default_value(default),
        Kind::List { required } | Kind::Shorthand { required, .. } => {
            a.action(ArgAction::Append).num_args(1..).required(required)
        }
        Kind::Bool => a.action(ArgAction::SetTrue),
    }
}

/// The request body of an operation from its parsed flags.
pub fn body(op: &Op, args: &ArgMatches) -> anyhow::Result<Value> {
    let mut body = Map::new();
    for (k, v) in op.fixed {
        body.insert((*k).to_owned(), json!(v));
    }
    for p in op.params.iter().filter(|p| !p.key.is_empty()) {
        let id = p.flag;
        let string = || args.get_one::<String>(id).cloned();
        let strings = || {
            args.get_many::<String>(id)
                .into_iter()
                .flatten()
                .map(String::as_str)
        };
        let v = match p.kind {
            Kind::Str | Kind::OptStr | Kind::Default(_) | Kind::OneOf(_) => json!(string()),
            Kind::Int { times, .. } => {
                json!(
                    args.get_one::<i64>(id)
                        .copied()
                        .unwrap_or_default()
                        .saturating_mul(times)
                )
            }
            Kind::List { .. } => json!(strings().collect::<Vec<_>>()),
            Kind::Shorthand { parse, .. } => {
                Value::Array(strings().map(parse).collect::<anyhow::Result<_>>()?)
            }
            Kind::Document { non_empty } => {
                json!(document(p.flag, &string().unwrap_or_default(), non_empty)?)
            }
            Kind::Bool => json!(args.get_flag(id)),
        };
        body.insert(p.key.to_owned(), v);
    }
    Ok(Value::Object(body))
}

/// Calls the operation with the body its flags make, and prints the result.
pub fn run(g: &Global, service: &str, op: &Op, args: &ArgMatches) -> anyhow::Result<i32> {
    let client = ApiClient::from_global(g)?;
    let v = client.call(service, op.action, &body(op, args)?)?;
    print(&Ctx { g, args }, &op.print, &v)?;
    Ok(0)
}

fn print(ctx: &Ctx, print: &Print, v: &Value) -> anyhow::Result<()> {
    match print {
        Print::Value => output::value(v),
        Print::Nothing => {}
        Print::Hook(hook) => hook(ctx, v)?,
        Print::Table { list, cols } => {
            let headers: Vec<&str> = cols.iter().map(|c| c.header).collect();
            output::listing(ctx.g.json, v, &headers, rows(&v[*list], cols));
        }
    }
    Ok(())
}

/// The rows of a table: one per item of `list`, one cell per column.
pub fn rows(list: &Value, cols: &[Col]) -> Vec<Vec<String>> {
    let cell = |item: &Value, c: &Col| match c.cell {
        Cell::Key(k) => s(item, k),
        Cell::Item => item.as_str().unwrap_or_default().to_owned(),
        Cell::Fn(f) => f(item),
    };
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|item| cols.iter().map(|c| cell(item, c)).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// `~` or `~/…` at the start of a path is the home directory, as the AWS
/// CLI expands it in `file://` (the shell does not, after `file://`).
fn expand_home(path: &str, home: Option<&str>) -> String {
    match (path.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => format!("{h}{rest}"),
        _ => path.to_owned(),
    }
}

/// Reads `file://PATH`, as the AWS CLI does, or takes the text as it is.
fn document(flag: &str, arg: &str, non_empty: bool) -> anyhow::Result<String> {
    match arg.strip_prefix("file://") {
        Some(path) => {
            let home = std::env::var("HOME").ok();
            let path = expand_home(path, home.as_deref());
            std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))
        }
        None if non_empty && arg.trim().is_empty() => Err(anyhow!("--{flag} is empty")),
        None => Ok(arg.to_owned()),
    }
}

/// Parses the AWS CLI shorthand `Key=k,Value=v` (the value may be left out).
pub fn tag(t: &str) -> anyhow::Result<Value> {
    let mut key = None;
    let mut value = None;
    for part in t.split(',') {
        match part.split_once('=') {
            Some(("Key", k)) => key = Some(k.to_owned()),
            Some(("Value", v)) => value = Some(v.to_owned()),
            _ => {}
        }
    }
    match (key, value) {
        (Some(k), v) => Ok(json!({"Key": k, "Value": v.unwrap_or_default()})),
        _ => Err(anyhow!("bad tag {t:?}: expected Key=NAME,Value=VALUE")),
    }
}

#[cfg(test)]
pub mod tests {
    use clap::{FromArgMatches, Subcommand};

    #[test]
    fn a_file_url_expands_the_home_directory_as_the_aws_cli_does() {
        use super::expand_home;
        let h = Some("/home/alice");
        assert_eq!(expand_home("~/.ssh/k.pub", h), "/home/alice/.ssh/k.pub");
        assert_eq!(expand_home("~", h), "/home/alice");
        assert_eq!(expand_home("~bob/k.pub", h), "~bob/k.pub");
        assert_eq!(expand_home("./~/k", h), "./~/k");
        assert_eq!(expand_home("~/k", None), "~/k");
    }

    use super::*;

    /// `airlock {S::COMMAND} …` parsed as the CLI would, or clap's error.
    pub fn parse<S: Service>(line: &str) -> Result<Call<S>, clap::Error> {
        let cmd = Call::<S>::augment_subcommands(
            clap::Command::new(S::COMMAND).subcommand_required(true),
        );
        let m = cmd.try_get_matches_from(
            std::iter::once(S::COMMAND).chain(line.split(' ').filter(|w| !w.is_empty())),
        )?;
        Call::<S>::from_arg_matches(&m)
    }

    /// The body `airlock {S::COMMAND} {line}` sends.
    pub fn body_of<S: Service>(line: &str) -> anyhow::Result<Value> {
        let c = parse::<S>(line).map_err(|e| anyhow!("{line}: {e}"))?;
        body(c.op, &c.args)
    }

    /// Every operation is described once, parses its example and makes a
    /// body from it (each `file://NAME` is a file with `{}` in it).
    pub fn examples_parse<S: Service>() {
        let dir = tempfile::tempdir().unwrap();
        let mut names = std::collections::HashSet::new();
        for op in S::ops() {
            assert!(names.insert(op.name), "{} described twice", op.name);
            let words: Vec<String> = op
                .example
                .split(' ')
                .map(|w| match w.strip_prefix("file://") {
                    Some(name) => {
                        let path = dir.path().join(name);
                        std::fs::write(&path, "{}").unwrap();
                        format!("file://{}", path.display())
                    }
                    None => w.to_owned(),
                })
                .collect();
            let line = format!("{} {}", op.name, words.join(" "));
            let c = parse::<S>(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(c.op.name, op.name);
            body(c.op, &c.args).unwrap_or_else(|e| panic!("{line}: {e}"));
            let first = op.action.chars().next().unwrap_or(' ');
            assert!(
                first.is_ascii_uppercase(),
                "{}: action {}",
                op.name,
                op.action
            );
        }
    }

    #[test]
    fn the_whole_cli_is_a_valid_clap_command() {
        <crate::Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn shorthand_tags_parse_like_the_aws_cli() {
        assert_eq!(
            tag("Key=SSMSessionRunAs,Value=alice").unwrap(),
            json!({"Key": "SSMSessionRunAs", "Value": "alice"})
        );
        assert_eq!(
            tag("Key=team").unwrap(),
            json!({"Key": "team", "Value": ""})
        );
        assert_eq!(
            tag("Value=x").unwrap_err().to_string(),
            r#"bad tag "Value=x": expected Key=NAME,Value=VALUE"#
        );
    }

    #[test]
    fn documents_are_text_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, "{\"a\": 1}").unwrap();
        let arg = format!("file://{}", path.display());
        assert_eq!(document("d", &arg, false).unwrap(), "{\"a\": 1}");
        assert_eq!(document("d", "{}", true).unwrap(), "{}");
        assert_eq!(document("d", "", false).unwrap(), "");
        assert_eq!(
            document("public-key-material", " ", true)
                .unwrap_err()
                .to_string(),
            "--public-key-material is empty"
        );
        let missing = format!("file://{}", dir.path().join("nope").display());
        assert!(
            document("d", &missing, false)
                .unwrap_err()
                .to_string()
                .starts_with("reading ")
        );
    }

    #[test]
    fn rows_take_keys_items_and_computed_cells() {
        let cols = [
            col("A"),
            col_as("Bee", "B"),
            col_fn("Both", |v| format!("{}{}", s(v, "A"), s(v, "B"))),
        ];
        let list = json!([{"A": "x", "B": 1}, {"A": null}]);
        assert_eq!(
            rows(&list, &cols),
            vec![vec!["x", "1", "x1"], vec!["", "", ""]]
        );
        let names = [Col {
            header: "N",
            cell: Cell::Item,
        }];
        assert_eq!(rows(&json!(["a", "b"]), &names), vec![vec!["a"], vec!["b"]]);
        assert!(rows(&Value::Null, &names).is_empty());
    }
}
