//! `skiff get`: tables rendered from the server's `meta.k8s.io/v1` Table responses
//! (the same columns kubectl shows), YAML/JSON/name output, and `-w` watches.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use futures::{AsyncBufReadExt, TryStreamExt};
use serde_json::{json, Value};

use crate::commands::client::{connect, ObjectApi, TABLE_ACCEPT};
use crate::commands::errors::{describe_error, exit_failure};
use crate::commands::output::{
    format_line, render_table, to_json, to_yaml, widths, Format, TableLayout,
};
use crate::commands::resources::{ResourceInfo, Resources};

/// Arguments of `skiff get`.
#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// `KIND[,KIND...] [NAME...]` or `KIND/NAME...`; KIND is a plural, singular,
    /// short name (ksvc, cm, rev...), kind, or `resource.group`.
    #[arg(required = true, value_name = "KIND [NAME]...")]
    pub args: Vec<String>,
    /// Namespace (default: the kubeconfig context's, else `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format: yaml, json, wide or name.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<Format>,
    /// Label selector, e.g. `app=hello,tier!=db`.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector, e.g. `metadata.name=hello`.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// After listing, watch for changes and print a row per change.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Do not print the header line of tables.
    #[arg(long)]
    pub no_headers: bool,
}

/// One resource type and the names asked for (empty = list).
#[derive(Debug, PartialEq)]
pub struct Query<'r> {
    /// The resource type.
    pub info: &'r ResourceInfo,
    /// Object names; empty means the whole collection.
    pub names: Vec<String>,
}

/// Splits `KIND[,KIND] NAME...` / `KIND/NAME...` arguments into queries.
pub fn parse_queries<'r>(resources: &'r Resources, args: &[String]) -> Result<Vec<Query<'r>>> {
    let mut out: Vec<Query<'r>> = Vec::new();
    if args.first().is_some_and(|a| a.contains('/')) {
        for a in args {
            let Some((kind, name)) = a.split_once('/') else {
                bail!("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'skiff get resource/<resource_name>' instead of 'skiff get resource resource/<resource_name>'");
            };
            let info = resources.resolve(kind)?;
            match out.iter_mut().find(|q| q.info == info) {
                Some(q) => q.names.push(name.to_string()),
                None => out.push(Query {
                    info,
                    names: vec![name.to_string()],
                }),
            }
        }
        return Ok(out);
    }
    let names: Vec<String> = args[1..].to_vec();
    for kind in args[0].split(',').filter(|k| !k.is_empty()) {
        let info = resources.resolve(kind)?;
        if !out.iter().any(|q| q.info == info) {
            out.push(Query {
                info,
                names: names.clone(),
            });
        }
    }
    Ok(out)
}

/// Runs `skiff get`.
pub async fn run(kubeconfig: Option<PathBuf>, args: GetArgs) -> Result<()> {
    let conn = connect(kubeconfig).await?;
    let resources = Resources::discover(&conn.client).await?;
    let queries = parse_queries(&resources, &args.args)?;
    let ns = args.namespace.clone().unwrap_or(conn.namespace.clone());
    if args.watch && queries.len() != 1 {
        bail!("you may only specify a single resource type");
    }
    let mut failed = false;
    let ctx = Ctx {
        client: &conn.client,
        args: &args,
        ns: &ns,
    };
    let found = match args.output {
        Some(Format::Yaml | Format::Json | Format::Name) => {
            print_objects(&ctx, &queries, &mut failed).await?
        }
        _ => print_tables(&ctx, &queries, &mut failed).await?,
    };
    if !found && !failed && queries.iter().all(|q| q.names.is_empty()) {
        let namespaced = queries.iter().any(|q| q.info.namespaced);
        if args.all_namespaces || !namespaced {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {ns} namespace.");
        }
    }
    if failed {
        exit_failure();
    }
    Ok(())
}

struct Ctx<'a> {
    client: &'a kube::Client,
    args: &'a GetArgs,
    ns: &'a str,
}

impl Ctx<'_> {
    fn api(&self, info: &ResourceInfo, listing: bool) -> ObjectApi<'_> {
        let ns = if listing && self.args.all_namespaces {
            None
        } else {
            Some(self.ns)
        };
        ObjectApi::new(self.client, info, ns)
    }
}

/// Fetches the Tables of one query; prints and records errors for missing names.
async fn fetch_tables(ctx: &Ctx<'_>, q: &Query<'_>, failed: &mut bool) -> Result<Vec<Value>> {
    let mut tables = Vec::new();
    if q.names.is_empty() {
        let api = ctx.api(q.info, true);
        match api
            .list(
                ctx.args.selector.as_deref(),
                ctx.args.field_selector.as_deref(),
                Some(TABLE_ACCEPT),
            )
            .await
        {
            Ok(t) => tables.push(t),
            Err(e) => bail!("{}", describe_error(&e, None)),
        }
    } else {
        let api = ctx.api(q.info, false);
        for name in &q.names {
            match api.get(name, Some(TABLE_ACCEPT)).await {
                Ok(t) => tables.push(t),
                Err(e) => {
                    eprintln!("{}", describe_error(&e, None));
                    *failed = true;
                }
            }
        }
    }
    Ok(tables)
}

async fn print_tables(ctx: &Ctx<'_>, queries: &[Query<'_>], failed: &mut bool) -> Result<bool> {
    let wide = ctx.args.output == Some(Format::Wide);
    let multi = queries.len() > 1;
    let mut printed = false;
    let mut out = std::io::stdout();
    for q in queries {
        let tables = fetch_tables(ctx, q, failed).await?;
        let Some(first) = tables.first() else {
            continue;
        };
        let prefix = if multi {
            format!("{}/", q.info.kind_group())
        } else {
            String::new()
        };
        let with_ns = ctx.args.all_namespaces && q.info.namespaced && q.names.is_empty();
        let layout = TableLayout::new(first, wide, with_ns, prefix);
        let rows: Vec<Vec<String>> = tables
            .iter()
            .flat_map(|t| t["rows"].as_array().cloned().unwrap_or_default())
            .map(|r| layout.row_cells(&r))
            .collect();
        if !rows.is_empty() {
            if printed {
                println!();
            }
            print!(
                "{}",
                render_table(&layout.headers, &rows, !ctx.args.no_headers)
            );
            printed = true;
        }
        out.flush()?;
        if ctx.args.watch {
            let rv = first
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("0")
                .to_string();
            let mut w = widths(
                &[layout.headers.clone()]
                    .into_iter()
                    .chain(rows)
                    .collect::<Vec<_>>(),
            );
            if !printed && !ctx.args.no_headers {
                // kubectl prints the header with the first event when nothing was listed.
                w = widths(std::slice::from_ref(&layout.headers));
            }
            watch(ctx, q, &layout, w, rv, printed || ctx.args.no_headers).await?;
        }
    }
    Ok(printed)
}

/// Streams Table watch events for one query, printing a row per event until the
/// process is interrupted (re-watching from the last seen resourceVersion when the
/// server ends a watch).
async fn watch(
    ctx: &Ctx<'_>,
    q: &Query<'_>,
    layout: &TableLayout,
    widths: Vec<usize>,
    mut rv: String,
    mut header_done: bool,
) -> Result<()> {
    let api = ctx.api(q.info, q.names.is_empty());
    let field = match (&ctx.args.field_selector, q.names.as_slice()) {
        (_, [name]) => Some(format!("metadata.name={name}")),
        (f, _) => f.clone(),
    };
    loop {
        let req = api.watch_request(
            ctx.args.selector.as_deref(),
            field.as_deref(),
            &rv,
            TABLE_ACCEPT,
        )?;
        let stream = ctx
            .client
            .request_stream(req)
            .await
            .map_err(|e| anyhow::anyhow!("{}", describe_error(&e, None)))?;
        let mut lines = stream.lines();
        while let Some(line) = lines.try_next().await? {
            if line.trim().is_empty() {
                continue;
            }
            let event: Value = serde_json::from_str(&line)?;
            let obj = &event["object"];
            match event["type"].as_str().unwrap_or("") {
                "ERROR" => bail!(
                    "Error from server ({}): {}",
                    obj["reason"].as_str().unwrap_or(""),
                    obj["message"].as_str().unwrap_or("")
                ),
                "BOOKMARK" => {}
                _ => {
                    for row in obj["rows"].as_array().into_iter().flatten() {
                        if let Some(v) = row
                            .pointer("/object/metadata/resourceVersion")
                            .and_then(Value::as_str)
                        {
                            rv = v.to_string();
                        }
                        if !header_done {
                            println!("{}", format_line(&layout.headers, &widths));
                            header_done = true;
                        }
                        println!("{}", format_line(&layout.row_cells(row), &widths));
                    }
                    std::io::stdout().flush()?;
                }
            }
            if let Some(v) = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
            {
                rv = v.to_string();
            }
        }
    }
}

/// Full objects for `-o yaml|json|name`. Returns whether anything was found.
async fn print_objects(ctx: &Ctx<'_>, queries: &[Query<'_>], failed: &mut bool) -> Result<bool> {
    let mut items: Vec<(String, Value)> = Vec::new();
    let mut single = queries.len() == 1 && queries[0].names.len() == 1;
    for q in queries {
        let fill = |mut o: Value| {
            if o.get("kind").is_none_or(Value::is_null) {
                o["kind"] = json!(q.info.ar.kind);
            }
            if o.get("apiVersion").is_none_or(Value::is_null) {
                o["apiVersion"] = json!(q.info.ar.api_version);
            }
            o
        };
        if q.names.is_empty() {
            single = false;
            let api = ctx.api(q.info, true);
            let list = api
                .list(
                    ctx.args.selector.as_deref(),
                    ctx.args.field_selector.as_deref(),
                    None,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe_error(&e, None)))?;
            for o in list["items"].as_array().cloned().unwrap_or_default() {
                items.push((q.info.kind_group(), fill(o)));
            }
        } else {
            let api = ctx.api(q.info, false);
            for name in &q.names {
                match api.get(name, None).await {
                    Ok(o) => items.push((q.info.kind_group(), fill(o))),
                    Err(e) => {
                        eprintln!("{}", describe_error(&e, None));
                        *failed = true;
                    }
                }
            }
        }
    }
    let found = !items.is_empty();
    match ctx.args.output {
        Some(Format::Name) => {
            for (kg, o) in &items {
                println!(
                    "{kg}/{}",
                    o.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                );
            }
        }
        fmt => {
            let value = if single && items.len() == 1 {
                items.pop().map(|(_, o)| o).unwrap_or(Value::Null)
            } else if single {
                return Ok(found);
            } else {
                json!({"apiVersion": "v1", "kind": "List", "items": items.into_iter().map(|(_, o)| o).collect::<Vec<_>>(), "metadata": {"resourceVersion": ""}})
            };
            if fmt == Some(Format::Json) {
                print!("{}", to_json(&value));
            } else {
                print!("{}", to_yaml(&value));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::resources::tests::sample;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn queries_from_arguments() {
        let r = sample();
        let q = parse_queries(&r, &s(&["ksvc,cm", "a", "b"])).unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].info.ar.plural, "services");
        assert_eq!(q[1].info.ar.plural, "configmaps");
        assert_eq!(q[1].names, ["a", "b"]);
        let q = parse_queries(&r, &s(&["ksvc/a", "cm/b", "ksvc/c"])).unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].names, ["a", "c"]);
        assert!(parse_queries(&r, &s(&["ksvc/a", "b"])).is_err());
        assert_eq!(
            parse_queries(&r, &s(&["foo"])).unwrap_err().to_string(),
            "the server doesn't have a resource type \"foo\""
        );
    }
}
