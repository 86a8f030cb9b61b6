//! Typed TOML configs with `--set section.key=value` overrides: the value is parsed as TOML and
//! must have the type of the key it replaces; unknown keys are refused with the closest valid
//! name as a hint.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// A setting that may be absent, written as a TOML string with `""` for none (`model_name_or_path
/// = ""`, `--set model_name_or_path=`): `#[serde(default, with = "training::overrides::empty_is_none")]`
/// on an `Option<PathBuf>` or `Option<String>`. It reads and writes the same text as a plain
/// string would, so run directories and checkpoint settings stay as they were.
pub mod empty_is_none {
    use serde::{Deserialize, Deserializer, Serializer};

    /// A value a setting holds as text.
    pub trait Text: Sized {
        /// Its text.
        fn text(&self) -> String;
        /// From non-empty text.
        fn from_text(text: String) -> Self;
    }

    impl Text for String {
        fn text(&self) -> String {
            self.clone()
        }
        fn from_text(text: String) -> Self {
            text
        }
    }

    impl Text for std::path::PathBuf {
        fn text(&self) -> String {
            self.to_string_lossy().into_owned()
        }
        fn from_text(text: String) -> Self {
            text.into()
        }
    }

    /// `None` as `""`.
    pub fn serialize<S: Serializer, T: Text>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.as_ref().map_or(String::new(), Text::text))
    }

    /// `""` as `None`.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Text>(d: D) -> Result<Option<T>, D::Error> {
        let text = String::deserialize(d)?;
        Ok((!text.is_empty()).then(|| T::from_text(text)))
    }
}

/// Parses `text` (from `origin`) into `T`, applies `overrides`, and checks the result. `T` must
/// `deny_unknown_fields` and give every key a default or a value.
pub fn load_with_overrides<T: DeserializeOwned + Serialize>(
    text: &str,
    origin: &str,
    overrides: &[String],
) -> Result<T> {
    let config_error = |origin: &str, reason: String| Error::Config { origin: origin.to_string(), reason };
    let mut table: toml::Table = toml::from_str(text).map_err(|e| config_error(origin, e.to_string()))?;
    // Parse the file's text once without overrides, so that an unknown key or a value of the
    // wrong type is named with its line (and unknown keys with a hint).
    let resolved: T =
        toml::from_str(text).map_err(|e: toml::de::Error| config_error(origin, with_hint(&e.to_string())))?;
    let defaults = toml::Table::try_from(&resolved).map_err(|e| config_error(origin, e.to_string()))?;
    for o in overrides {
        let origin = format!("--set {o}");
        let (path, raw) =
            o.split_once('=').ok_or_else(|| config_error(&origin, "expected section.key=value".into()))?;
        let keys: Vec<&str> = path.trim().split('.').collect();
        let current = lookup(&defaults, &keys).ok_or_else(|| {
            let hint = closest(path.trim(), &all_keys(&defaults, ""))
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            config_error(&origin, format!("unknown key `{}`{hint}", path.trim()))
        })?;
        let value = parse_value(raw.trim(), current).map_err(|reason| config_error(&origin, reason))?;
        set(&mut table, &keys, value);
    }
    table.try_into().map_err(|e: toml::de::Error| config_error(origin, e.to_string()))
}

/// A key a config no longer accepts under its old name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renamed {
    /// The old dotted key (`optim.lr`).
    pub old: &'static str,
    /// The key that replaced it (`learning_rate`).
    pub new: &'static str,
    /// What else changed with the name ("" when only the name did), appended to the message.
    pub note: &'static str,
}

/// One line per old name of `renamed` that the file's `text` sets or an override gives:
/// ``run.toml:12: `optim.lr` was renamed to `learning_rate` `` (or `--set optim.lr=1e-3: …`),
/// file lines first. A file that is not TOML gives none: its parse error is reported by
/// [`load_with_overrides`].
pub fn renamed_keys(text: &str, file: &str, overrides: &[String], renamed: &[Renamed]) -> Vec<String> {
    let describe = |r: &Renamed| format!("`{}` was renamed to `{}`{}", r.old, r.new, r.note);
    let in_file = toml::from_str::<toml::Table>(text).map(|t| flatten(&t)).unwrap_or_default();
    let from_file = renamed.iter().filter(|r| in_file.contains_key(r.old)).map(|r| {
        (line_of(r.old, text).unwrap_or(0), format!("{}: {}", origin_of(r.old, text, file, &[]), describe(r)))
    });
    let mut lines: Vec<(usize, String)> = from_file.collect();
    lines.sort();
    let from_overrides = overrides.iter().filter_map(|o| {
        let key = o.split_once('=').map_or(o.as_str(), |(k, _)| k).trim();
        renamed.iter().find(|r| r.old == key).map(|r| format!("--set {o}: {}", describe(r)))
    });
    lines.into_iter().map(|(_, l)| l).chain(from_overrides).collect()
}

/// Where `key`'s value came from: the last `--set` of it, else `file:line` where the file
/// sets it, else its default.
pub fn origin_of(key: &str, text: &str, file: &str, overrides: &[String]) -> String {
    if let Some(o) = overrides.iter().rev().find(|o| o.split_once('=').is_some_and(|(k, _)| k.trim() == key)) {
        return format!("--set {o}");
    }
    match line_of(key, text) {
        Some(line) => format!("{file}:{line}"),
        None => format!("{file} ({key} not set: its default)"),
    }
}

/// The line of `text` (1-based) that sets the dotted `key`.
fn line_of(key: &str, text: &str) -> Option<usize> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let parts: Vec<&str> = key.split('.').collect();
    let (last, sections) = parts.split_last()?;
    for part in sections {
        table = table.get(*part)?.get_ref().as_table()?;
    }
    let (name, _) = table.get_key_value(*last)?;
    Some(text[..name.span().start.min(text.len())].matches('\n').count() + 1)
}

fn lookup<'a>(table: &'a toml::Table, keys: &[&str]) -> Option<&'a toml::Value> {
    let (first, rest) = keys.split_first()?;
    let value = table.get(*first)?;
    if rest.is_empty() {
        Some(value)
    } else {
        lookup(value.as_table()?, rest)
    }
}

fn set(table: &mut toml::Table, keys: &[&str], value: toml::Value) {
    if let Some((first, rest)) = keys.split_first() {
        if rest.is_empty() {
            table.insert(first.to_string(), value);
        } else {
            let entry = table.entry(first.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = entry {
                set(t, rest, value);
            }
        }
    }
}

/// Parses `raw` as a TOML value of the same type as `current` (a bare word is a string).
fn parse_value(raw: &str, current: &toml::Value) -> std::result::Result<toml::Value, String> {
    let parsed = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let value = match (current, parsed) {
        (toml::Value::Float(_), toml::Value::Integer(i)) => toml::Value::Float(i as f64),
        (_, v) => v,
    };
    if std::mem::discriminant(&value) != std::mem::discriminant(current) {
        let article = |t: &str| if t.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        let (have, want) = (value.type_str(), current.type_str());
        return Err(format!("`{raw}` is {} {have}, the key takes {} {want}", article(have), article(want)));
    }
    Ok(value)
}

/// Every leaf of `value` (a config) by dotted key, with its TOML text: what two configs differ in
/// is then a comparison of two maps.
pub fn flatten<T: Serialize>(value: &T) -> BTreeMap<String, String> {
    fn walk(table: &toml::Table, prefix: &str, out: &mut BTreeMap<String, String>) {
        for (k, v) in table {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                toml::Value::Table(t) => walk(t, &key, out),
                v => {
                    out.insert(key, v.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(table) = toml::Table::try_from(value) {
        walk(&table, "", &mut out);
    }
    out
}

fn all_keys(table: &toml::Table, prefix: &str) -> Vec<String> {
    table
        .iter()
        .flat_map(|(k, v)| {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                toml::Value::Table(t) => all_keys(t, &key),
                _ => vec![key],
            }
        })
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The valid key nearest to `key`, if reasonably near. Only the last part is compared, so that
/// `lr` finds `optim.lr`; the allowed distance grows with its length, so that a short unknown
/// name (`validation_files.de`) is not "corrected" into an unrelated one.
fn closest(key: &str, keys: &[String]) -> Option<String> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let allowed = (leaf.chars().count() / 2).clamp(1, 3);
    keys.iter()
        .map(|k| (edit_distance(leaf, k.rsplit('.').next().unwrap_or(k)), k))
        .filter(|(d, _)| *d <= allowed)
        .min()
        .map(|(_, k)| k.clone())
}

/// Adds "did you mean" to serde's unknown-field message.
fn with_hint(message: &str) -> String {
    let Some(start) = message.find("unknown field `") else { return message.to_string() };
    let rest = &message[start + 15..];
    let Some(end) = rest.find('`') else { return message.to_string() };
    let unknown = &rest[..end];
    let expected: Vec<String> = rest
        .split("expected")
        .nth(1)
        .map(|s| s.split('`').skip(1).step_by(2).map(String::from).collect())
        .unwrap_or_default();
    match closest(unknown, &expected) {
        Some(k) => format!("{message}; did you mean `{k}`?"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Optim {
        lr: f64,
        #[serde(default)]
        steps: u64,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        name: String,
        optim: Optim,
    }

    #[test]
    fn overrides_are_typed_and_unknown_keys_get_a_hint() {
        let text = "name = \"a\"\n[optim]\nlr = 0.1\n";
        let c: Cfg =
            load_with_overrides(text, "c.toml", &["optim.lr=1".into(), "name=b".into(), "optim.steps=5".into()])
                .unwrap();
        assert_eq!(c, Cfg { name: "b".into(), optim: Optim { lr: 1.0, steps: 5 } });
        let err = load_with_overrides::<Cfg>(text, "c.toml", &["optim.steps=x".into()]).unwrap_err().to_string();
        assert!(err.contains("--set optim.steps=x") && err.contains("integer"), "{err}");
        let err = load_with_overrides::<Cfg>(text, "c.toml", &["optim.lrr=1".into()]).unwrap_err().to_string();
        assert!(err.contains("did you mean `optim.lr`"), "{err}");
        // A short name far from every key gets no misleading hint.
        let err = load_with_overrides::<Cfg>(text, "c.toml", &["optim.xy=1".into()]).unwrap_err().to_string();
        assert!(err.contains("unknown key `optim.xy`") && !err.contains("did you mean"), "{err}");
        let err = load_with_overrides::<Cfg>("name = \"a\"\n[optim]\nlr = 0.1\nstpes = 3\n", "c.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml") && err.contains("stpes") && err.contains("did you mean `steps`"), "{err}");
        // A value of the wrong type in the file is named with its line.
        let err = load_with_overrides::<Cfg>("name = \"a\"\n[optim]\nlr = \"fast\"\n", "c.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml") && err.contains("line 3") && err.contains("lr"), "{err}");
    }

    #[test]
    fn a_value_is_traced_to_its_set_or_its_line() {
        let text = "name = \"a\"\n\n[optim]\n  lr = 0.1\n";
        assert_eq!(origin_of("optim.lr", text, "c.toml", &[]), "c.toml:4");
        assert_eq!(origin_of("name", text, "c.toml", &[]), "c.toml:1");
        let set = ["optim.lr=1".to_string(), "optim.lr = 2".to_string()];
        assert_eq!(origin_of("optim.lr", text, "c.toml", &set), "--set optim.lr = 2");
        assert_eq!(origin_of("optim.steps", text, "c.toml", &set), "c.toml (optim.steps not set: its default)");
    }

    #[test]
    fn an_old_name_is_named_with_its_line_or_its_set() {
        const RENAMED: &[Renamed] = &[
            Renamed { old: "optim.lr", new: "learning_rate", note: "" },
            Renamed { old: "name", new: "output_dir", note: " (the run directory)" },
        ];
        let text = "name = \"a\"\n\n[optim]\n  lr = 0.1\n";
        let lines = renamed_keys(text, "c.toml", &["optim.lr = 2".into(), "seed=1".into()], RENAMED);
        assert_eq!(
            lines,
            [
                "c.toml:1: `name` was renamed to `output_dir` (the run directory)",
                "c.toml:4: `optim.lr` was renamed to `learning_rate`",
                "--set optim.lr = 2: `optim.lr` was renamed to `learning_rate`",
            ]
        );
        assert!(renamed_keys("learning_rate = 0.1\n", "c.toml", &[], RENAMED).is_empty());
        assert!(renamed_keys("not toml [", "c.toml", &[], RENAMED).is_empty());
    }
}
