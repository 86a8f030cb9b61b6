//! Reading Parquet files, such as the shards Hugging Face `datasets` writes
//! (`train-00000-of-00001.parquet`), column by column: a column is looked up by name and checked
//! for the type it must have before anything is read, integer labels take their names from the
//! `ClassLabel` features `datasets` stores in the file (schema metadata key `huggingface`), and
//! rows are read one row group at a time in record batches, so memory does not grow with the
//! file. Shared by `corpus build` and `finetune`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::basic::Compression;

/// Rows per record batch.
const BATCH_ROWS: usize = 1024;

/// A defect in a Parquet file: the file, the row (1-based; 0 when the whole file is concerned),
/// and what is wrong, naming the column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {reason}", path.display(), if *row > 0 { format!(":{row}") } else { String::new() })]
pub struct ParquetError {
    /// The file.
    pub path: PathBuf,
    /// 1-based row, 0 for the whole file.
    pub row: u64,
    /// What is wrong.
    pub reason: String,
}

/// What a column must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Text,
    /// A class: a string, or an integer (named by the column's `ClassLabel` feature, if any).
    Label,
    /// A list of strings (words).
    TextList,
    /// A list of classes (tags), as [`Kind::Label`] item by item.
    LabelList,
    /// SQuAD answers as `datasets` stores them: `struct<text: list<string>, answer_start: list<int>>`.
    Answers,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Text => "string",
            Kind::Label => "string or integer (a datasets ClassLabel)",
            Kind::TextList => "list<string>",
            Kind::LabelList => "list<string> or list<integer> (a datasets Sequence of ClassLabel)",
            Kind::Answers => "struct<text: list<string>, answer_start: list<int32>> (datasets' SQuAD layout)",
        }
    }

    fn accepts(self, t: &DataType) -> bool {
        match self {
            Kind::Text => is_string(t),
            Kind::Label => is_string(t) || t.is_integer(),
            Kind::TextList => list_item(t).is_some_and(is_string),
            Kind::LabelList => list_item(t).is_some_and(|i| is_string(i) || i.is_integer()),
            Kind::Answers => match t {
                DataType::Struct(fields) => {
                    let field = |name: &str| fields.iter().find(|f| f.name() == name).map(|f| f.data_type());
                    field("text").is_some_and(|t| Kind::TextList.accepts(t))
                        && field("answer_start").and_then(list_item).is_some_and(DataType::is_integer)
                }
                _ => false,
            },
        }
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn list_item(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) => Some(f.data_type()),
        _ => None,
    }
}

/// A type as pyarrow prints it (`string`, `int64`, `list<string>`), for error messages.
fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "string".into(),
        DataType::LargeUtf8 => "large_string".into(),
        DataType::Utf8View => "string_view".into(),
        DataType::Float16 => "halffloat".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "bool".into(),
        DataType::List(f) => format!("list<{}>", type_name(f.data_type())),
        DataType::LargeList(f) => format!("large_list<{}>", type_name(f.data_type())),
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields.iter().map(|f| format!("{}: {}", f.name(), type_name(f.data_type()))).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string().to_lowercase(),
    }
}

/// A column of a [`ParquetFile`], checked to be of its [`Kind`].
#[derive(Debug, Clone)]
pub struct Column {
    name: String,
    index: usize,
    kind: Kind,
    /// `ClassLabel` names of an integer label column (or of its list items).
    names: Option<Vec<String>>,
}

impl Column {
    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An open Parquet file: its schema and row groups, read on demand.
pub struct ParquetFile {
    path: PathBuf,
    file: File,
    metadata: ArrowReaderMetadata,
    /// `info.features` of the `huggingface` metadata, when `datasets` wrote the file.
    features: Option<serde_json::Value>,
}

impl ParquetFile {
    /// Opens `path` and reads its footer (schema, row groups, key-value metadata).
    pub fn open(path: &Path) -> Result<Self, ParquetError> {
        let fail = |reason: String| ParquetError { path: path.to_path_buf(), row: 0, reason };
        let file = File::open(path).map_err(|e| fail(e.to_string()))?;
        let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|e| fail(format!("not a readable Parquet file: {e}")))?;
        let features = match metadata
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|kv| kv.key == "huggingface"))
            .and_then(|kv| kv.value.as_deref())
        {
            None => None,
            Some(json) => {
                let value: serde_json::Value = serde_json::from_str(json)
                    .map_err(|e| fail(format!("the `huggingface` schema metadata is not JSON: {e}")))?;
                value.pointer("/info/features").cloned()
            }
        };
        Ok(ParquetFile { path: path.to_path_buf(), file, metadata, features })
    }

    /// Whether the file has a top-level column `name`.
    pub fn has_column(&self, name: &str) -> bool {
        self.metadata.schema().index_of(name).is_ok()
    }

    /// The column `name`, checked to hold `kind`; an error names the column, what it holds and
    /// what was expected.
    pub fn column(&self, name: &str, kind: Kind) -> Result<Column, ParquetError> {
        let schema = self.metadata.schema();
        let Ok(index) = schema.index_of(name) else {
            let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(self.error(
                0,
                format!("no column `{name}` (expected {}; the file has {})", kind.expected(), have.join(", ")),
            ));
        };
        let t = schema.field(index).data_type();
        if !kind.accepts(t) {
            return Err(self.error(0, format!("column `{name}` is {}; expected {}", type_name(t), kind.expected())));
        }
        let names = match kind {
            Kind::Label | Kind::LabelList => self.class_names(name, kind)?,
            _ => None,
        };
        Ok(Column { name: name.to_string(), index, kind, names })
    }

    /// The `ClassLabel` names `datasets` recorded for column `name` (for a list column, of its
    /// items: `List`, `Sequence` or `LargeList` of `ClassLabel`).
    fn class_names(&self, name: &str, kind: Kind) -> Result<Option<Vec<String>>, ParquetError> {
        let Some(mut feature) = self.features.as_ref().and_then(|f| f.get(name)) else { return Ok(None) };
        if kind == Kind::LabelList {
            match feature.get("_type").and_then(|t| t.as_str()) {
                Some("List" | "Sequence" | "LargeList") => match feature.get("feature") {
                    Some(item) => feature = item,
                    None => return Ok(None),
                },
                _ => return Ok(None),
            }
        }
        if feature.get("_type").and_then(|t| t.as_str()) != Some("ClassLabel") {
            return Ok(None);
        }
        let bad = || {
            self.error(0, format!("column `{name}`: the ClassLabel in the `huggingface` metadata has no list of names"))
        };
        let names = feature.get("names").and_then(|n| n.as_array()).ok_or_else(bad)?;
        names.iter().map(|n| n.as_str().map(String::from).ok_or_else(bad)).collect::<Result<Vec<_>, _>>().map(Some)
    }

    fn error(&self, row: u64, reason: String) -> ParquetError {
        ParquetError { path: self.path.clone(), row, reason }
    }

    /// Refuses a column chunk compressed with a codec this build leaves out, naming the column.
    fn check_codecs(&self, columns: &[&Column]) -> Result<(), ParquetError> {
        for group in self.metadata.metadata().row_groups() {
            for chunk in group.columns() {
                let root = chunk.column_path().parts().first().map(String::as_str).unwrap_or_default();
                if !columns.iter().any(|c| c.name == root) {
                    continue;
                }
                match chunk.compression() {
                    Compression::UNCOMPRESSED | Compression::SNAPPY | Compression::GZIP(_) | Compression::ZSTD(_) => {}
                    other => {
                        let codec = format!("{other:?}");
                        let codec = codec.split('(').next().unwrap_or_default().to_string();
                        return Err(self.error(
                            0,
                            format!(
                                "column `{root}` is compressed with {codec}; expected uncompressed, SNAPPY, GZIP or ZSTD \
                                 (rewrite it, e.g. pyarrow.parquet.write_table(table, path, compression=\"zstd\"))"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads `columns`, one row group at a time in record batches of at most 1024 rows, calling
    /// `each` on every batch in file order. `bytes_read` advances by each row group's compressed
    /// size (and the rest of the file at the end), for progress.
    pub fn read<E: From<ParquetError>>(
        &self,
        columns: &[&Column],
        bytes_read: Option<&AtomicU64>,
        mut each: impl FnMut(&Batch) -> Result<(), E>,
    ) -> Result<(), E> {
        self.check_codecs(columns)?;
        let mask = ProjectionMask::roots(self.metadata.parquet_schema(), columns.iter().map(|c| c.index));
        let groups = self.metadata.metadata().row_groups();
        let mut row = 1;
        let mut counted = 0u64;
        for (g, group) in groups.iter().enumerate() {
            let file = self.file.try_clone().map_err(|e| self.error(0, e.to_string()))?;
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![g])
                .with_projection(mask.clone())
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| self.error(row, format!("row group {g}: {e}")))?;
            for batch in reader {
                let batch = batch.map_err(|e| self.error(row, format!("row group {g}: {e}")))?;
                let batch = Batch { file: self, batch, first_row: row };
                each(&batch)?;
                row += batch.len() as u64;
            }
            if let Some(counter) = bytes_read {
                let size = u64::try_from(group.compressed_size()).unwrap_or(0);
                counter.fetch_add(size, Ordering::Relaxed);
                counted += size;
            }
        }
        if let Some(counter) = bytes_read {
            let total = self.file.metadata().map(|m| m.len()).unwrap_or(counted);
            counter.fetch_add(total.saturating_sub(counted), Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Rows of a [`ParquetFile`], with typed access to the columns read.
pub struct Batch<'a> {
    file: &'a ParquetFile,
    batch: RecordBatch,
    first_row: u64,
}

impl Batch<'_> {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The 1-based row number in the file of row `i` of the batch.
    pub fn row(&self, i: usize) -> u64 {
        self.first_row + i as u64
    }

    fn array(&self, column: &Column) -> Result<&ArrayRef, ParquetError> {
        self.batch
            .column_by_name(&column.name)
            .ok_or_else(|| self.file.error(0, format!("column `{}` was not read", column.name)))
    }

    fn mismatch(&self, column: &Column) -> ParquetError {
        self.file.error(0, format!("column `{}`: expected {}", column.name, column.kind.expected()))
    }

    /// A [`Kind::Text`] value; `None` when null.
    pub fn text(&self, column: &Column, i: usize) -> Result<Option<&str>, ParquetError> {
        let array = self.array(column)?;
        string_at(array.as_ref(), i).ok_or_else(|| self.mismatch(column))
    }

    /// A [`Kind::Label`] value as its name; `None` when null, or -1 (datasets' missing label).
    pub fn label(&self, column: &Column, i: usize) -> Result<Option<String>, ParquetError> {
        let array = self.array(column)?;
        self.label_in(column, array.as_ref(), i, self.row(i), "")
    }

    /// A [`Kind::TextList`] value; `None` when null.
    pub fn text_list(&self, column: &Column, i: usize) -> Result<Option<Vec<String>>, ParquetError> {
        let Some(items) = self.list(column, i)? else { return Ok(None) };
        (0..items.len())
            .map(|k| match string_at(items.as_ref(), k) {
                Some(Some(s)) => Ok(s.to_string()),
                Some(None) => {
                    Err(self.file.error(self.row(i), format!("column `{}`, item {}, is null", column.name, k + 1)))
                }
                None => Err(self.mismatch(column)),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A [`Kind::LabelList`] value, item by item as [`Batch::label`]; `None` when null.
    pub fn label_list(&self, column: &Column, i: usize) -> Result<Option<Vec<String>>, ParquetError> {
        let Some(items) = self.list(column, i)? else { return Ok(None) };
        (0..items.len())
            .map(|k| {
                let item = format!(", item {}", k + 1);
                self.label_in(column, items.as_ref(), k, self.row(i), &item)?.ok_or_else(|| {
                    self.file.error(self.row(i), format!("column `{}`{item} is null (or -1: no label)", column.name))
                })
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A [`Kind::Answers`] value as (text, start character) pairs; `None` when null.
    pub fn answers(&self, column: &Column, i: usize) -> Result<Option<Vec<(String, usize)>>, ParquetError> {
        let array = self.array(column)?;
        let answers = array.as_struct_opt().ok_or_else(|| self.mismatch(column))?;
        if answers.is_null(i) {
            return Ok(None);
        }
        let row = self.row(i);
        let field = |name: &str| answers.column_by_name(name).ok_or_else(|| self.mismatch(column));
        let (texts, starts) = (field("text")?, field("answer_start")?);
        let (Some(texts), Some(starts)) = (list_at(texts.as_ref(), i), list_at(starts.as_ref(), i)) else {
            return Err(self.mismatch(column));
        };
        let (Some(texts), Some(starts)) = (texts, starts) else {
            return Err(self.file.error(row, format!("column `{}`: `text` or `answer_start` is null", column.name)));
        };
        if texts.len() != starts.len() {
            return Err(self.file.error(
                row,
                format!("column `{}`: {} texts but {} answer_start offsets", column.name, texts.len(), starts.len()),
            ));
        }
        (0..texts.len())
            .map(|k| {
                let item =
                    |what: &str| self.file.error(row, format!("column `{}`, answer {}: {what}", column.name, k + 1));
                let text = string_at(texts.as_ref(), k).ok_or_else(|| self.mismatch(column))?;
                let text = text.ok_or_else(|| item("`text` is null"))?;
                let start = int_at(starts.as_ref(), k).ok_or_else(|| self.mismatch(column))?;
                let start = start
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or_else(|| item("`answer_start` is null or negative, not a character offset"))?;
                Ok((text.to_string(), start))
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn list(&self, column: &Column, i: usize) -> Result<Option<ArrayRef>, ParquetError> {
        let array = self.array(column)?;
        list_at(array.as_ref(), i).ok_or_else(|| self.mismatch(column))
    }

    /// Item `i` of a label array: a string as is, an integer by its ClassLabel name (or its
    /// decimal digits when the file names no classes, as a JSONL integer label reads).
    fn label_in(
        &self,
        column: &Column,
        array: &dyn Array,
        i: usize,
        row: u64,
        item: &str,
    ) -> Result<Option<String>, ParquetError> {
        if let Some(s) = string_at(array, i) {
            return Ok(s.map(String::from));
        }
        let id = int_at(array, i).ok_or_else(|| self.mismatch(column))?;
        let Some(id) = id else { return Ok(None) };
        let Some(names) = &column.names else { return Ok(Some(id.to_string())) };
        if id == -1 {
            return Ok(None);
        }
        usize::try_from(id).ok().and_then(|k| names.get(k)).cloned().map(Some).ok_or_else(|| {
            self.file.error(
                row,
                format!(
                    "column `{}`{item} is {id}, outside its ClassLabel's {} names (0..{})",
                    column.name,
                    names.len(),
                    names.len().saturating_sub(1)
                ),
            )
        })
    }
}

/// Item `i` of a string array (`None` inside: null); `None` when the array holds no strings.
fn string_at(array: &dyn Array, i: usize) -> Option<Option<&str>> {
    let valid = array.is_valid(i);
    let value = match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(i),
        DataType::LargeUtf8 => array.as_string::<i64>().value(i),
        DataType::Utf8View => array.as_string_view().value(i),
        _ => return None,
    };
    Some(valid.then_some(value))
}

/// Item `i` of an integer array as i64 (`None` inside: null, or a u64 beyond i64); `None` when
/// the array holds no integers.
fn int_at(array: &dyn Array, i: usize) -> Option<Option<i64>> {
    let valid = array.is_valid(i);
    let value = match array.data_type() {
        DataType::Int8 => Some(i64::from(array.as_primitive::<Int8Type>().value(i))),
        DataType::Int16 => Some(i64::from(array.as_primitive::<Int16Type>().value(i))),
        DataType::Int32 => Some(i64::from(array.as_primitive::<Int32Type>().value(i))),
        DataType::Int64 => Some(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Some(i64::from(array.as_primitive::<UInt8Type>().value(i))),
        DataType::UInt16 => Some(i64::from(array.as_primitive::<UInt16Type>().value(i))),
        DataType::UInt32 => Some(i64::from(array.as_primitive::<UInt32Type>().value(i))),
        DataType::UInt64 => i64::try_from(array.as_primitive::<UInt64Type>().value(i)).ok(),
        _ => return None,
    };
    Some(value.filter(|_| valid))
}

/// Item `i` of a list array (`None` inside: null); `None` when the array holds no lists.
fn list_at(array: &dyn Array, i: usize) -> Option<Option<ArrayRef>> {
    let valid = array.is_valid(i);
    let value = match array.data_type() {
        DataType::List(_) => array.as_list::<i32>().value(i),
        DataType::LargeList(_) => array.as_list::<i64>().value(i),
        _ => return None,
    };
    Some(valid.then_some(value))
}
