"""Training features of extractive QA exactly as transformers' examples/pytorch/question-answering/
run_qa.py prepares them (prepare_train_features), for comparison with the Rust windows.

usage: qa_features.py TOKENIZER_JSON SQUAD_JSON MAX_SEQ_LENGTH DOC_STRIDE
prints one JSON line per window: {"question": index, "input_ids": [...], "start": s, "end": e}
"""

import json
import sys

from transformers import PreTrainedTokenizerFast


def main(tokenizer_json: str, squad: str, max_length: str, stride: str) -> None:
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=tokenizer_json)
    data = json.load(open(squad, encoding="utf-8"))
    questions, contexts, answers = [], [], []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                questions.append(qa["question"])
                contexts.append(paragraph["context"])
                answers.append({"text": [a["text"] for a in qa["answers"]],
                                "answer_start": [a["answer_start"] for a in qa["answers"]]})
    enc = tokenizer(questions, contexts, truncation="only_second", max_length=int(max_length),
                    stride=int(stride), return_overflowing_tokens=True, return_offsets_mapping=True)
    # From here on the logic of prepare_train_features (pad_on_right = True).
    for i, offsets in enumerate(enc["offset_mapping"]):
        input_ids = enc["input_ids"][i]
        cls_index = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
        sequence_ids = enc.sequence_ids(i)
        sample = enc["overflow_to_sample_mapping"][i]
        ans = answers[sample]
        if len(ans["answer_start"]) == 0:
            start = end = cls_index
        else:
            start_char = ans["answer_start"][0]
            end_char = start_char + len(ans["text"][0])
            token_start_index = 0
            while sequence_ids[token_start_index] != 1:
                token_start_index += 1
            token_end_index = len(input_ids) - 1
            while sequence_ids[token_end_index] != 1:
                token_end_index -= 1
            if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
                start = end = cls_index
            else:
                while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
                    token_start_index += 1
                start = token_start_index - 1
                while offsets[token_end_index][1] >= end_char:
                    token_end_index -= 1
                end = token_end_index + 1
        print(json.dumps({"question": sample, "input_ids": input_ids, "start": start, "end": end}))


if __name__ == "__main__":
    main(*sys.argv[1:])
