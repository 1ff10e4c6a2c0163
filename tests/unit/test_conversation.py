"""The follow-up resolver (qa.conversation.followups) on its own: rewrites, odd histories, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from qa.conversation.followups import MAX_TURNS, Resolution, is_followup, is_vague, resolve, turns_from
from qa.records import Answer

DATA = Path(__file__).resolve().parents[1] / "data"
# Text an answer came from, as ask() puts it in Answer.context: it tells people's names from others.
CNN = ("President Joe Biden announced during a meeting with Colombian President Iván Duque on Thursday that "
       "the United States is designating Colombia a major non-NATO ally. Duque said, “We appreciate a lot.”")


def turn(question: str, text: str | None, context: str = CNN) -> Answer:
    return Answer(question=question, text=text, score=0.9 if text else 0.0, context=context)


@pytest.mark.parametrize("history, question, expected", [
    ([turn("When will the Summit of the Americas be held?", "June")],
     "And where is it held?", "where is the Summit of the Americas held?"),
    ([turn("Who is the president of Colombia?", "Iván Duque")],
     "Who did he meet in Washington?", "Who did Iván Duque meet in Washington?"),
    ([turn("Which country did the US designate a major non-NATO ally?", "Colombia")],
     "How much aid has the US given it?", "How much aid has the US given Colombia?"),
    ([turn("Which news organisation reported from Washington?", "CNN")],
     "Who contributed to its report?", "Who contributed to CNN's report?"),
    ([turn("What do major non-NATO allies receive?", "material and supply loans")],
     "What are they not entitled to?", "What are major non-NATO allies not entitled to?"),
    ([turn("Where will the summit take place?", "Los Angeles")],
     "What does Biden want to sign there?", "What does Biden want to sign in Los Angeles?"),
    ([turn("Who is the president of Colombia?", "Iván Duque")],
     "What about Venezuela?", "Who is the president of Venezuela?"),
    ([turn("How much aid has the US given Colombia?", "more than $10 billion")],
     "Since when?", "Since when has the US given Colombia more than $10 billion?"),
    # a question word alone after a yes/no question goes in front of it, "anyone" becoming what is asked
    ([turn("Was anyone else hurt in the attack?", None)], "Who?", "Who else was hurt in the attack?"),
    ([turn("Did Biden meet Duque in Washington?", None)], "When?", "When did Biden meet Duque in Washington?"),
    # "What team?" asks for a noun of its own: the previous answer is not put back
    ([turn("Which sport is he going to coach?", "soccer")], "What team?", "What team is he going to coach?"),
    # a short question with its own verb is whole once its pronoun is replaced, not when it names nothing
    ([turn("Who did Biden meet on Thursday?", "Duque")], "Who greeted him?", "Who greeted Duque?"),
    ([turn("Did Liverpool play Chelsea yesterday?", None)], "Who won?", "Who won did Liverpool play Chelsea yesterday?"),
    # an answer that was the subject goes back where the subject was
    ([turn("Who was arrested?", "John Smith")], "Why?", "Why was John Smith arrested?"),
    # "armed" is no verb here: the fragment is completed
    ([turn("Who claimed the attack?", "Hamas")], "Which armed group?", "Which armed group Hamas claimed the attack?"),
    ([turn("What did Biden call Colombia?", "the lynchpin")],
     "The lynchpin to what?", "Biden call Colombia the lynchpin to what?"),
])
def test_follow_ups_are_rewritten_into_standalone_questions(history, question, expected):
    understood = resolve(question, history)
    assert understood.followup
    assert understood.question == expected


def test_a_short_question_whose_pronoun_finds_no_referent_takes_the_previous_question_in():
    # "it" has no referent in a plain-question history: the verb alone does not make it stand alone
    understood = resolve("Who designated it?", ["What do major non-NATO allies receive?"])
    assert understood.followup and "non-NATO allies" in understood.question


def test_a_rewritten_turn_is_the_context_of_the_next():
    first = turn("Who is the president of Colombia?", "Iván Duque")
    second = resolve("Who did he meet?", [first])
    answer = turn("Who did he meet?", "Joe Biden")
    answer.resolved_question = second.question
    assert resolve("Where did they meet?", [first, answer]).question == "Where did Iván Duque and Joe Biden meet?"


@pytest.mark.parametrize("question", [
    "What did Biden say he would do?",            # "he" is Biden, named in the question itself
    "Is there a summit in June?",                 # existential "there"
    "Who wrote the Medium article?",              # no auxiliary verb, but three specific words
    "What status has Colombia granted to Venezuelans?",
])
def test_questions_that_stand_alone_are_not_changed_by_history(question):
    history = [turn("Who is the president of Venezuela?", "Nicolas Maduro")]
    understood = resolve(question, history)
    assert not understood.followup and understood.question == question


def test_no_standalone_seed_question_is_taken_for_a_follow_up():
    rows = [json.loads(line) for line in (DATA / "seed_questions.jsonl").read_text().splitlines() if line.strip()]
    assert [r["question"] for r in rows if is_followup(r["question"])] == []


@pytest.mark.parametrize("history", [None, [], ()])
def test_without_history_nothing_changes(history):
    assert resolve("Who did he meet?", history) == Resolution("Who did he meet?", followup=False)


def test_history_of_no_answer_turns_uses_the_questions():
    history = [turn("Who is the president of Venezuela?", None), turn("What is the capital of Colombia?", None)]
    understood = resolve("What is its population?", history)
    assert understood.followup
    assert understood.question == "What is Colombia's population?"


def test_only_the_last_few_turns_count_and_cost_stays_bounded():
    old = [turn("Who is the president of Colombia?", "Iván Duque")]
    filler = ["What is the capital of Colombia?"] * 100_000
    assert len(turns_from(old + filler)) == MAX_TURNS
    t0 = time.perf_counter()
    understood = resolve("Who did he meet?", old + filler)
    assert time.perf_counter() - t0 < 0.05
    assert "Duque" not in understood.question  # the turn that named him is too far back
    # an item of the wrong type beyond the last few turns is not even looked at
    assert resolve("Who did he meet?", [object()] + old * MAX_TURNS).question == "Who did Iván Duque meet?"


@pytest.mark.parametrize("history, message", [
    ("Who is the president of Colombia?", "history must be a list"),
    (42, "history must be a list"),
    ([turn("Who?", "x"), 42], "must be an Answer or a question string, not int"),
    ([None], "not NoneType"),
])
def test_bad_history_gets_a_clear_error(history, message):
    with pytest.raises(TypeError, match=message):
        resolve("Who did he meet?", history)


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=120)


@settings(max_examples=300, deadline=None)
@given(question=texts.filter(lambda q: q.strip()), history=st.lists(
    st.one_of(texts, st.builds(turn, texts, st.one_of(st.none(), texts), texts)), max_size=8))
def test_any_input_resolves_to_a_question(question, history):
    understood = resolve(question, history)
    assert understood.question.strip()
    if not understood.followup:
        assert understood.question == question
    else:  # each word is replaced by at most a part of the last few turns, never the whole conversation
        longest_turn = max(len(t.question) + len(t.answer or "") + 4 for t in turns_from(history))
        assert len(understood.question) <= (len(question) + 1) * longest_turn


@pytest.mark.parametrize("question, vague", [
    ("Where did this happen?", True), ("Who were they?", True), ("When?", True), ("What is the capital?", True),
    ("What position does he play?", False), ("Who is Biden?", False), ("What do major non-NATO allies receive?", False),
])
def test_a_question_is_vague_when_it_names_nothing_and_asks_little(question: str, vague: bool):
    assert is_vague(question) is vague
