"""Writes the repository's data as Parquet the way Hugging Face `datasets` does, for the Parquet
input tests of `corpus` and `finetune`: pyarrow tables whose schema metadata carries the
`huggingface` key that `datasets` writes, `{"info": {"features": ...}}` with each feature as
`Features.to_dict()` gives it (datasets 5.2.0: `arrow_writer.ArrowWriter._build_metadata`,
`features.Features.arrow_schema`), so integer labels carry their `ClassLabel` names.

    to_parquet.py text IN.txt OUT.parquet [--lang CODE] [--text-column C] [--lang-column C]
    to_parquet.py texts OUT.parquet --lang-column C IN.txt...   (one file, language from IN's directory)
    to_parquet.py classification IN.jsonl OUT.parquet [--class-label]
    to_parquet.py tokens IN.jsonl OUT.parquet [--tags-column C] [--class-label]
    to_parquet.py squad IN.json OUT.parquet
    common: [--compression snappy|gzip|zstd|lz4|brotli|none] [--row-group-size N]
            [--retype COLUMN=ARROW_TYPE]   (the column replaced by ones of that type, for the
                                            wrong-type tests: text=int64, label=float64)
"""

import argparse
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq


def value(dtype):
    return {"dtype": dtype, "_type": "Value"}


def class_label(names):
    return {"names": names, "_type": "ClassLabel"}


def list_of(feature):
    return {"feature": feature, "_type": "List"}


def first_seen(values):
    """Class names in order of first appearance (not sorted: the ids must come from the names)."""
    names = []
    for v in values:
        if v not in names:
            names.append(v)
    return names


def lines_of(path):
    """The documents of a .txt file as `corpus build` cuts them in line mode."""
    # newline="": no universal-newline translation (a lone \r stays inside its line, as corpus
    # build reads it).
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [l[:-1] if l.endswith("\r") else l for l in lines]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["text", "texts", "classification", "tokens", "squad"])
    p.add_argument("paths", nargs="+")
    p.add_argument("--lang")
    p.add_argument("--text-column", default="text")
    p.add_argument("--lang-column", default="lang")
    p.add_argument("--tags-column", default="tags")
    p.add_argument("--class-label", action="store_true")
    p.add_argument("--compression", default="snappy")
    p.add_argument("--row-group-size", type=int)
    p.add_argument("--retype", action="append", default=[])
    a = p.parse_args()

    columns, features = {}, {}
    if a.mode == "text":
        src, out = a.paths
        columns[a.text_column] = lines_of(src)
        features[a.text_column] = value("string")
        if a.lang:
            columns[a.lang_column] = [a.lang] * len(columns[a.text_column])
            features[a.lang_column] = value("string")
    elif a.mode == "texts":
        out, *sources = a.paths
        texts, langs = [], []
        for src in sources:
            docs = lines_of(src)
            texts += docs
            langs += [os.path.basename(os.path.dirname(src))] * len(docs)
        columns[a.text_column], columns[a.lang_column] = texts, langs
        features[a.text_column], features[a.lang_column] = value("string"), value("string")
    elif a.mode == "classification":
        src, out = a.paths
        rows = [json.loads(l) for l in open(src, encoding="utf-8") if l.strip()]
        columns["text"] = [r["text"] for r in rows]
        features["text"] = value("string")
        labels = [r["label"] for r in rows]
        if a.class_label:
            names = first_seen(labels)
            columns["label"] = [names.index(l) for l in labels]
            features["label"] = class_label(names)
        else:
            columns["label"] = labels
            features["label"] = value("string")
        if any("lang" in r for r in rows):
            columns["lang"] = [r.get("lang") for r in rows]
            features["lang"] = value("string")
    elif a.mode == "tokens":
        src, out = a.paths
        rows = [json.loads(l) for l in open(src, encoding="utf-8") if l.strip()]
        columns["tokens"] = [r["tokens"] for r in rows]
        features["tokens"] = list_of(value("string"))
        tags = [r["tags"] for r in rows]
        if a.class_label:
            names = first_seen(t for ts in tags for t in ts)
            columns[a.tags_column] = [[names.index(t) for t in ts] for ts in tags]
            features[a.tags_column] = list_of(class_label(names))
        else:
            columns[a.tags_column] = tags
            features[a.tags_column] = list_of(value("string"))
    else:
        # The layout of the Hub's `squad` dataset: one row per question.
        src, out = a.paths
        squad = json.load(open(src, encoding="utf-8"))
        rows = []
        for article in squad["data"]:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                    rows.append({
                        "id": qa["id"],
                        "title": article.get("title", ""),
                        "context": para["context"],
                        "question": qa["question"],
                        "answers": {
                            "text": [x["text"] for x in answers],
                            "answer_start": [x["answer_start"] for x in answers],
                        },
                    })
        for key in ["id", "title", "context", "question"]:
            columns[key] = [r[key] for r in rows]
            features[key] = value("string")
        columns["answers"] = [r["answers"] for r in rows]
        features["answers"] = {"text": list_of(value("string")), "answer_start": list_of(value("int32"))}

    types = {
        "answers": pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int32()))]),
    }
    for name, f in features.items():
        if f.get("_type") == "ClassLabel":
            types[name] = pa.int64()
        elif f.get("_type") == "List" and f["feature"].get("_type") == "ClassLabel":
            types[name] = pa.list_(pa.int64())
    arrays = {name: pa.array(col, type=types.get(name)) for name, col in columns.items()}
    for spec in a.retype:
        name, arrow_type = spec.split("=", 1)
        arrays[name] = pa.array([1] * len(arrays[name]), type=getattr(pa, arrow_type)())
        features.pop(name, None)
    table = pa.table(arrays)
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    pq.write_table(table, out, compression=a.compression, row_group_size=a.row_group_size)


if __name__ == "__main__":
    main()
