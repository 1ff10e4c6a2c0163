"""Train the extractive reader: MiniLM encoder + start/end head on SQuAD-format data, on CPU, resumably.

Data: SQuAD-format JSON (optionally gzipped). Unanswerable examples are added by pairing a question
with another paragraph of its article that lacks the answer, so the model learns a null score (CLS).
Checkpoints (trainable weights + optimizer + step) are written every few hundred steps so a killed run
resumes where it stopped; the shipped model is exported alongside each checkpoint.
"""

from __future__ import annotations

import gzip
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator


@dataclass
class TrainConfig:
    data: str = "../shared/data/qa/train.json.gz"
    out: str = "qa/models/reader"
    init: str = ""  # start from this reader folder (continue training) instead of the bare encoder
    checkpoint_dir: str = ".cache/reader-train"
    max_questions: int = 30000  # answerable questions sampled from the data
    negative_ratio: float = 0.33  # synthetic unanswerable examples per answerable one
    sources: str = "squad1.1-train,squad1.1-dev,squad2.0-dev,squad2.0-train,qed-nq-train,qed-nq-dev,tydiqa-goldp-en-train,tydiqa-goldp-en-dev"
    max_length: int = 256
    doc_stride: int = 64
    max_question_tokens: int = 64
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 1e-4
    warmup: float = 0.1
    weight_decay: float = 0.01
    seed: int = 13
    save_every: int = 200
    threads: int = 0  # 0 = torch default
    device: str = "auto"  # "auto": CUDA when available (bf16 autocast), else CPU
    max_minutes: float = 0.0  # >0: shorten the schedule so the run ends, LR decayed, within this time


@dataclass
class Example:
    question: str
    context: str
    answer_start: int | None  # None: unanswerable
    answer_text: str


def load_examples(cfg: TrainConfig) -> list[Example]:
    """Sample answerable questions, keep real unanswerables, and add paragraph-swap negatives."""
    path = Path(cfg.data)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        articles = json.load(fh)["data"]
    sources = {s for s in cfg.sources.split(",") if s}
    rng = random.Random(cfg.seed)
    positives: list[tuple[Example, list[str], int]] = []
    negatives: list[Example] = []
    for article in articles:
        if sources and article.get("source") not in sources:
            continue
        contexts = [p["context"] for p in article["paragraphs"]]
        for pi, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa["answers"]:
                    negatives.append(Example(qa["question"], para["context"], None, ""))
                    continue
                ans = qa["answers"][0]
                ex = Example(qa["question"], para["context"], ans["answer_start"], ans["text"])
                positives.append((ex, contexts, pi))
    rng.shuffle(positives)
    positives = positives[: cfg.max_questions]
    rng.shuffle(negatives)
    negatives = negatives[: int(len(positives) * cfg.negative_ratio / 2)]
    synthetic: list[Example] = []
    want = int(len(positives) * cfg.negative_ratio) - len(negatives)
    for ex, contexts, pi in positives:
        if len(synthetic) >= want:
            break
        others = [c for i, c in enumerate(contexts) if i != pi and ex.answer_text.lower() not in c.lower()]
        if others:
            synthetic.append(Example(ex.question, rng.choice(others), None, ""))
    examples = [p[0] for p in positives] + negatives + synthetic
    rng.shuffle(examples)
    return examples


def featurize(examples: list[Example], tokenizer: Any, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Tokenize into overlapping windows and label answer token positions (CLS=0 when absent)."""
    windows: list[dict[str, Any]] = []
    batch = 512
    for b in range(0, len(examples), batch):
        chunk = [
            e
            for e in examples[b : b + batch]
            if len(tokenizer.tokenize(e.question)) <= cfg.max_question_tokens
        ]
        enc = tokenizer(
            [e.question.strip() for e in chunk],
            [e.context for e in chunk],
            truncation="only_second",
            max_length=cfg.max_length,
            stride=cfg.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        for w, ex_idx in enumerate(enc["overflow_to_sample_mapping"]):
            ex = chunk[ex_idx]
            seq_ids = enc.sequence_ids(w)
            offsets = enc["offset_mapping"][w]
            start_tok = end_tok = 0
            if ex.answer_start is not None:
                a0, a1 = ex.answer_start, ex.answer_start + len(ex.answer_text)
                ctx = [i for i, s in enumerate(seq_ids) if s == 1]
                if ctx and offsets[ctx[0]][0] <= a0 and offsets[ctx[-1]][1] >= a1:
                    start_tok = next(i for i in ctx if offsets[i][1] > a0)
                    end_tok = next(i for i in reversed(ctx) if offsets[i][0] < a1)
            windows.append(
                {
                    "input_ids": enc["input_ids"][w],
                    "token_type_ids": enc["token_type_ids"][w],
                    "start": start_tok,
                    "end": end_tok,
                }
            )
    return windows


def batches(windows: list[dict[str, Any]], size: int, seed: int) -> list[list[int]]:
    """Length-bucketed batches (less padding, faster on CPU) in a seeded random order."""
    rng = random.Random(seed)
    order = list(range(len(windows)))
    rng.shuffle(order)
    out: list[list[int]] = []
    pool = size * 50
    for p in range(0, len(order), pool):
        group = sorted(order[p : p + pool], key=lambda i: len(windows[i]["input_ids"]))
        out.extend(group[i : i + size] for i in range(0, len(group), size))
    rng.shuffle(out)
    return out


def collate(windows: list[dict[str, Any]], idx: list[int]) -> dict[str, Any]:
    import torch

    n = max(len(windows[i]["input_ids"]) for i in idx)
    ids = torch.zeros((len(idx), n), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for r, i in enumerate(idx):
        w = windows[i]
        k = len(w["input_ids"])
        ids[r, :k] = torch.tensor(w["input_ids"])
        types[r, :k] = torch.tensor(w["token_type_ids"])
        mask[r, :k] = 1
    return {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "start_positions": torch.tensor([windows[i]["start"] for i in idx]),
        "end_positions": torch.tensor([windows[i]["end"] for i in idx]),
    }


def _schedule(cfg: TrainConfig, n_windows: int) -> tuple[int, int]:
    per_epoch = -(-n_windows // cfg.batch_size)
    total = max(1, int(per_epoch * cfg.epochs))
    return total, max(1, int(total * cfg.warmup))


def _step_plan(windows: list[dict[str, Any]], cfg: TrainConfig) -> Iterator[list[int]]:
    epoch = 0
    while True:
        for b in batches(windows, cfg.batch_size, cfg.seed + epoch):
            yield b
        epoch += 1


def _fit_budget(cfg: TrainConfig, plan: list[int], step: int, step_s: float, elapsed: float, log: Any) -> None:
    """Shrink the planned step count so the run (preparation included) fits in cfg.max_minutes."""
    fit = step + int(max(0.0, cfg.max_minutes * 60 * 0.95 - elapsed) / step_s)
    if fit < plan[0]:
        log(f"{step_s * 1000:.0f} ms/step: time budget allows {fit} of {plan[0]} steps; schedule shortened")
        plan[0] = fit
        plan[1] = min(plan[1], max(1, fit // 10))


def train(cfg: TrainConfig, log: Any = print) -> Path:
    """Run (or resume) training and return the directory of the exported model."""
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from qa.reader_model import base_encoder_path, save_shipped
    from qa.reader_model import load as load_reader

    t_start = time.time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available()
                          else "cpu" if cfg.device == "auto" else cfg.device)
    if cfg.init:
        tokenizer, model = load_reader(cfg.init)
    else:
        tokenizer = AutoTokenizer.from_pretrained(base_encoder_path())
        model = AutoModelForQuestionAnswering.from_pretrained(base_encoder_path())
    # Frozen word embeddings: faster steps, and the shipped model can borrow them from the package.
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    model.to(device)

    t0 = time.time()
    examples = load_examples(cfg)
    windows = featurize(examples, tokenizer, cfg)
    total, warmup = _schedule(cfg, len(windows))
    plan_total = [total, warmup]  # the time budget may shorten it after the first steps
    n_neg = sum(e.answer_start is None for e in examples)
    log(f"{len(examples)} examples ({n_neg} unanswerable) -> {len(windows)} windows, "
        f"{total} steps of {cfg.batch_size}; prepared in {time.time() - t0:.0f}s")

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / plan_total[1] if s < plan_total[1]
        else max(0.0, (plan_total[0] - s) / max(1, plan_total[0] - plan_total[1]))
    )

    ckpt_dir = Path(cfg.checkpoint_dir)
    ckpt = ckpt_dir / "checkpoint.pt"
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state["config"] != asdict(cfg):
            raise SystemExit(f"checkpoint {ckpt} was made with other settings; remove it or use them")
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step = state["step"]
        plan_total[:] = state.get("plan", plan_total)
        log(f"resuming from step {step}/{plan_total[0]}")

    def save() -> None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        trainable = {k: v for k, v in model.state_dict().items() if "word_embeddings" not in k}
        tmp = ckpt.with_suffix(".tmp")
        torch.save(
            {"model": trainable, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "step": step, "plan": plan_total, "config": asdict(cfg)},
            tmp,
        )
        tmp.replace(ckpt)
        info = {"config": asdict(cfg), "steps": step, "total_steps": plan_total[0], "windows": len(windows),
                "examples": len(examples), "unanswerable": n_neg}
        save_shipped(model, tokenizer, cfg.out, info)

    model.train()
    plan = _step_plan(windows, cfg)
    for _ in range(step):  # replay the seeded order up to where we stopped
        next(plan)
    bar = tqdm(total=plan_total[0], initial=step, desc="train", unit="step", mininterval=10)
    running = 0.0
    # Time steps 300-800 of this run (after warm-up, which is slow on a GPU) to fit the time budget.
    probe = [step + 300, step + 800, 0.0]
    while step < plan_total[0]:
        batch = {k: v.to(device, non_blocking=True) for k, v in collate(windows, next(plan)).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}", lr=f"{sched.get_last_lr()[0]:.2e}", refresh=False)
        if cfg.max_minutes and step == probe[0]:
            probe[2] = time.time()
        if cfg.max_minutes and step == probe[1]:
            step_s = (time.time() - probe[2]) / (probe[1] - probe[0])
            _fit_budget(cfg, plan_total, step, step_s, time.time() - t_start, log)
            bar.total = plan_total[0]
        if step % cfg.save_every == 0 or step == plan_total[0]:
            save()
    bar.close()
    if step == plan_total[0] and not (Path(cfg.out) / "model.safetensors").exists():
        save()
    log(f"done: {step} steps; model in {cfg.out}")
    return Path(cfg.out)
