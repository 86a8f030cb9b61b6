//! Reading docs/configs.md for the `config_reference` test of each crate (corpus, pretrain,
//! finetune), included there with `#[path]`: the tables headed `key | type | default | meaning`
//! under a `## <section>` heading, compared with the keys and defaults of a config struct.

use std::collections::BTreeSet;
use std::path::Path;

/// One row of a key table: the key and its default cell.
pub struct Row {
    pub key: String,
    pub default: String,
}

/// The rows of the tables headed `key | type | default | meaning` under `## <section>`, up
/// to the next `## ` heading.
pub fn rows(section: &str) -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configs.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut found, mut in_section, mut in_key_table) = (false, false, false);
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_section = heading.trim() == section;
            found |= in_section;
            in_key_table = false;
            continue;
        }
        let line = line.trim();
        if !in_section || !line.starts_with('|') {
            in_key_table = false;
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells[0] == "key" {
            assert_eq!(cells, ["key", "type", "default", "meaning"], "docs/configs.md, ## {section}: header {line}");
            in_key_table = true;
        } else if in_key_table && !cells.iter().all(|c| c.chars().all(|ch| matches!(ch, '-' | ':'))) {
            assert!(cells.len() >= 4, "docs/configs.md, ## {section}: row with fewer than 4 columns: {line}");
            rows.push(Row { key: cells[0].trim_matches('`').to_string(), default: cells[2].to_string() });
        }
    }
    assert!(found, "docs/configs.md has no `## {section}` section");
    rows
}

/// The keys of `config` (every key populated) must be the keys documented under `## <section>`;
/// `config` must also read back unchanged through TOML, so that every serialised key is one the
/// deserialiser accepts.
pub fn assert_documented<T>(section: &str, name: &str, config: &T)
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let text = toml::to_string(config).unwrap();
    assert_eq!(&toml::from_str::<T>(&text).unwrap(), config, "round trip through\n{text}");
    let mut accepted = BTreeSet::new();
    leaf_keys(&serde_json::to_value(config).unwrap(), "", &mut accepted);
    assert_same_keys(section, name, &accepted);
}

/// The keys of a serialised config: nested tables joined with `.`, arrays of tables as
/// `name[]`; an empty table (a map with free keys) is a key itself.
pub fn leaf_keys(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                leaf_keys(v, &join(k), out);
            }
        }
        serde_json::Value::Array(items) if items.iter().any(serde_json::Value::is_object) => {
            for item in items {
                leaf_keys(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// Fails with the keys missing from the doc and the documented keys the config does not
/// accept (and keys documented twice).
pub fn assert_same_keys(section: &str, config: &str, accepted: &BTreeSet<String>) {
    let rows = rows(section);
    let mut documented = BTreeSet::new();
    let twice: Vec<&str> = rows.iter().filter(|r| !documented.insert(r.key.clone())).map(|r| r.key.as_str()).collect();
    let missing: Vec<&String> = accepted.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(accepted).collect();
    assert!(
        missing.is_empty() && unknown.is_empty() && twice.is_empty(),
        "docs/configs.md `## {section}` and {config} disagree\n  \
         accepted but missing from the doc: {missing:?}\n  \
         documented but not accepted: {unknown:?}\n  \
         documented more than once: {twice:?}"
    );
}

/// Checks every default cell that starts with a backquoted TOML value (`` `0.3` ``,
/// `` `"auto"` ``; other cells, "required" or "none: …", are prose): `base` (a minimal
/// file; with one entry in each array of tables) with the key set to that value must load as
/// the same config as `base` without it.
pub fn assert_defaults<T>(section: &str, base: &str)
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq,
{
    let base: toml::Table = toml::from_str(base).unwrap();
    let loaded: T = base.clone().try_into().unwrap();
    let code = serde_json::to_value(&loaded).unwrap();
    let mut wrong = Vec::new();
    for row in rows(section) {
        let Some(literal) = row.default.strip_prefix('`').and_then(|s| s.split('`').next()) else { continue };
        let value = toml::from_str::<toml::Table>(&format!("v = {literal}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| panic!("docs/configs.md, {}: default `{literal}` is not a TOML value", row.key));
        let mut with = base.clone();
        let parts: Vec<&str> = row.key.split('.').collect();
        let verdict = if !set(&mut with, &parts, value) {
            "no such key in the base file".to_string()
        } else {
            match with.try_into::<T>() {
                Ok(c) if c == loaded => continue,
                Ok(_) => {
                    let code = parts.iter().try_fold(&code, |v, k| v.get(k.trim_end_matches("[]")));
                    format!("code default {}", code.map_or("(not serialised)".into(), ToString::to_string))
                }
                Err(e) => format!("not accepted: {e}"),
            }
        };
        wrong.push(format!("{}: documented `{literal}`, {verdict}", row.key));
    }
    assert!(
        wrong.is_empty(),
        "docs/configs.md `## {section}`: defaults differ from the code:\n  {}",
        wrong.join("\n  ")
    );
}

/// Sets `value` at the dotted key `parts` (`name[]` is the first entry of an array of
/// tables, which must exist); false when the path cannot be followed.
fn set(table: &mut toml::Table, parts: &[&str], value: toml::Value) -> bool {
    let Some((first, rest)) = parts.split_first() else { return false };
    if rest.is_empty() {
        table.insert(first.to_string(), value);
        return true;
    }
    let inner = match first.strip_suffix("[]") {
        Some(name) => table.get_mut(name).and_then(|v| v.as_array_mut()).and_then(|a| a.first_mut()),
        None => Some(table.entry(first.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()))),
    };
    match inner.and_then(toml::Value::as_table_mut) {
        Some(t) => set(t, rest, value),
        None => false,
    }
}
