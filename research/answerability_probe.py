"""Can an answerability head on the shipped reader's own (frozen) states tell real adversarial
unanswerable questions from answerable ones? A probe, trainable on CPU (issue 11).

    python research/answerability_probe.py [--pairs 14000] [--cache /tmp/qa-probe]   # ~25 min on 2 cores

Each (question, paragraph) goes once through the reader (one window of up to 384 tokens); kept per
window: the [CLS] state of the last layer and of layer 4, the mean state over the passage tokens, and
span statistics (best span margin over the null score, the null logit, the best start and end logits, the
null position's start/end log-probabilities). Data:
- negatives: SQuAD 2.0 train adversarial unanswerables (../shared/data/qa/squad2-train-unanswerable.json.gz,
  never trained on), up to 2 per paragraph, articles 10 and up (the first 10 are bench/near_miss.py's);
- positives: the answerable SQuAD v1.1 train questions of the same paragraphs, up to 2 per paragraph (the
  reader trained on these: their states are in-sample, which is why the threshold is set on XQuAD);
- XQuAD dev's 1,052 answerable questions on their gold paragraphs (never trained on).
A logistic head (and a small MLP) is fitted on articles 60 and up and scored on articles 10-59. Printed:
AUC, and of the adversarial questions the reader answers (a span beats the null score), the share the
head turns away at the thresholds that turn away 1-8 % of the XQuAD questions the reader answers.

A finished study; its findings: research/FINDINGS.md, "The reader: an answerability probe, and runs 5 to 6d".
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calibration import auc  # noqa: E402

DATA = ROOT.parent / "shared/data/qa"
XQUAD = ROOT / "bench/data/xquad-dev.json"
HELD_OUT = range(10, 60)  # article numbers scored, not fitted on


def window_features(tok, model, questions: list[str], contexts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(states, stats) per (question, context): see the module docstring."""
    import torch

    enc = tok(questions, contexts, truncation="only_second", max_length=384, padding="longest", return_tensors="pt")
    with torch.inference_mode():
        out = model(**{k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}, output_hidden_states=True)
    states, stats = [], []
    for i in range(len(questions)):
        ctx = ((enc["token_type_ids"][i] == 1) & (enc["attention_mask"][i] == 1)).nonzero().flatten()[:-1].numpy()
        s, e = out.start_logits[i].numpy(), out.end_logits[i].numpy()
        null = s[0] + e[0]
        pair = s[ctx][:, None] + e[ctx][None, :]
        length = ctx[None, :] - ctx[:, None]
        best = pair[(length >= 0) & (length < 30)].max() - null

        def log_p0(x):
            z = x[np.r_[0, ctx]] - x[np.r_[0, ctx]].max()
            return z[0] - np.log(np.exp(z).sum())

        hs = out.hidden_states
        states.append(np.concatenate([hs[-1][i, 0], hs[-3][i, 0], hs[-1][i, ctx].mean(0)]).astype(np.float16))
        stats.append([best, null, s[ctx].max(), e[ctx].max(), log_p0(s), log_p0(e)])
    return np.stack(states), np.asarray(stats, dtype=np.float32)


def extract(rows: list[tuple[str, str, int, int]], path: Path, batch: int = 16) -> dict[str, np.ndarray]:
    if path.exists():
        return dict(np.load(path))
    from qa.reading.weights import load

    tok, model = load(ROOT / "qa/models/reader")
    t0, states, stats = time.time(), [], []
    for b in range(0, len(rows), batch):
        chunk = rows[b : b + batch]
        x, s = window_features(tok, model, [r[0] for r in chunk], [r[1] for r in chunk])
        states.append(x)
        stats.append(s)
        if b % (batch * 50) == 0:
            print(f"  {path.name}: {b}/{len(rows)} windows, {time.time() - t0:.0f} s", flush=True)
    out = {"X": np.concatenate(states), "S": np.concatenate(stats), "y": np.array([r[2] for r in rows]),
           "article": np.array([r[3] for r in rows])}
    np.savez(path, **out)
    return out


def adversarial_rows(pairs: int, rng: random.Random) -> list[tuple[str, str, int, int]]:
    with gzip.open(DATA / "squad2-train-unanswerable.json.gz", "rt", encoding="utf-8") as fh:
        unanswerable = json.load(fh)["data"]
    with gzip.open(DATA / "train.json.gz", "rt", encoding="utf-8") as fh:
        answerable = {p["context"]: [q for q in p["qas"] if q["answers"]] for a in json.load(fh)["data"]
                      if a["source"] == "squad1.1-train" for p in a["paragraphs"]}
    rows = []
    for ai, article in enumerate(unanswerable[10:], start=10):
        for p in article["paragraphs"]:
            rows += [(q["question"], p["context"], 0, ai) for q in rng.sample(p["qas"], min(2, len(p["qas"])))]
            pos = answerable.get(p["context"], [])
            rows += [(q["question"], p["context"], 1, ai) for q in rng.sample(pos, min(2, len(pos)))]
    rng.shuffle(rows)
    return rows[:pairs]


def fit(X: np.ndarray, y: np.ndarray, hidden: int, l2: float = 1e-2):
    """A logistic head (hidden=0) or a one-hidden-layer MLP; returns a scoring function."""
    import torch

    torch.manual_seed(0)
    Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.float32)
    loss_fn = torch.nn.functional.binary_cross_entropy_with_logits
    if hidden == 0:
        net = torch.nn.Linear(X.shape[1], 1)
        opt = torch.optim.LBFGS(net.parameters(), max_iter=200)

        def closure():
            opt.zero_grad()
            loss = loss_fn(net(Xt).squeeze(1), yt) + l2 * (net.weight ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
    else:
        net = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(X.shape[1], hidden), torch.nn.GELU(),
                                  torch.nn.Dropout(0.3), torch.nn.Linear(hidden, 1))
        opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=l2)
        for _ in range(10):
            perm = torch.randperm(len(Xt))
            for i in range(0, len(perm), 128):
                j = perm[i : i + 128]
                opt.zero_grad()
                loss_fn(net(Xt[j]).squeeze(1), yt[j]).backward()
                opt.step()
    net.eval()

    def score(Z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.tensor(Z)).squeeze(1).numpy()

    return score


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=14000, help="adversarial + answerable windows extracted")
    ap.add_argument("--cache", default="/tmp/qa-probe", help="folder for the extracted features")
    args = ap.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    xquad = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    xq = extract([(q["question"], p["context"], 1, ai) for ai, a in enumerate(xquad) for p in a["paragraphs"]
                  for q in p["qas"]], cache / "xquad.npz")
    adv = extract(adversarial_rows(args.pairs, random.Random(7)), cache / f"adversarial-{args.pairs}.npz")
    test = np.isin(adv["article"], list(HELD_OUT))
    y = adv["y"]
    answered_adv = (adv["S"][:, 0] > 0) & test & (y == 0)
    answered_xq = xq["S"][:, 0] > 0
    print(f"windows: {len(y)} ({int(y.sum())} answerable), held out {int(test.sum())}; the reader answers "
          f"{answered_adv.sum() / ((y == 0) & test).sum():.1%} of held-out adversarial, "
          f"{answered_xq.mean():.1%} of XQuAD")
    blocks = {"stats": lambda d: d["S"], "cls": lambda d: d["X"][:, :384].astype(np.float32),
              "cls 2 layers + stats": lambda d: np.hstack([d["X"][:, :768].astype(np.float32), d["S"]]),
              "all states + stats": lambda d: np.hstack([d["X"].astype(np.float32), d["S"]])}
    print("| features | head | held-out AUC | answered adversarial turned away at 1 / 2 / 3 / 5 / 8 % of answered XQuAD |")
    print("|---|---|---|---|")
    for name, get in blocks.items():
        X, XQ = get(adv), get(xq)
        mu, sd = X[~test].mean(0), X[~test].std(0) + 1e-4
        for hidden in (0, 64):
            score = fit((X[~test] - mu) / sd, y[~test], hidden)
            p_adv, p_xq = score((X - mu) / sd), score((XQ - mu) / sd)
            shares = [np.mean(p_adv[answered_adv] < np.quantile(p_xq[answered_xq], q)) for q in (.01, .02, .03, .05, .08)]
            print(f"| {name} | {'logistic' if hidden == 0 else f'MLP {hidden}'} | {auc(p_adv[test], y[test]):.3f} | "
                  + " / ".join(f"{s:.1%}" for s in shares) + " |")


if __name__ == "__main__":
    main()
