"""The instructions sent to the model for each feature. Plain functions returning chat messages,
so that tests (and readers) can see exactly what goes out."""

from __future__ import annotations

import json

LANGUAGE_NAMES = {"pt-br": "Brazilian Portuguese", "en": "English", "es": "Spanish"}

# How `compose` rewrites a text: the action → the instruction.
COMPOSE_INSTRUCTIONS = {
    "formal": "Rewrite the text in a more formal, professional tone.",
    "friendly": "Rewrite the text in a warmer, friendlier tone.",
    "shorter": "Rewrite the text shorter, keeping every fact and request.",
    "fix_grammar": "Fix spelling, grammar and punctuation; change nothing else.",
    "translate": "Translate the text into {target}.",
}


def language_name(code: str | None) -> str:
    return LANGUAGE_NAMES.get((code or "").lower(), "the language of the conversation")


def summarize(*, conversation: str, language: str) -> list[dict]:
    return [
        {
            "role": "system",
            "content": (
                "You summarize customer-service conversations of a company for its agents. "
                f"Write in {language_name(language)}: 3 to 6 short bullet points with the customer's request, "
                "what was done and what is still pending. Use only facts from the conversation."
            ),
        },
        {"role": "user", "content": f"Conversation:\n{conversation}"},
    ]


def classify(*, conversation: str, categories: list[str]) -> list[dict]:
    options = json.dumps(categories, ensure_ascii=False)
    return [
        {
            "role": "system",
            "content": (
                "You classify customer-service conversations. Answer only with a JSON object "
                '{"sentiment": "positive" | "neutral" | "negative", "category": <one of the categories, or "">}. '
                "The sentiment is the customer's, at the end of the conversation. "
                f"Categories: {options}."
            ),
        },
        {"role": "user", "content": f"Conversation:\n{conversation}"},
    ]


def compose(*, text: str, action: str, target_language: str | None) -> list[dict]:
    instruction = COMPOSE_INSTRUCTIONS[action].format(target=language_name(target_language))
    keep_language = "" if action == "translate" else " Keep the text's language."
    return [
        {
            "role": "system",
            "content": (
                "You help a customer-service agent write messages to customers on WhatsApp. "
                f"{instruction}{keep_language} Answer with the new text only, no quotes or comments."
            ),
        },
        {"role": "user", "content": text},
    ]


def suggest_replies(*, conversation: str, articles: list, language: str) -> list[dict]:
    knowledge = "\n\n".join(f"[Article {article.id}] {article.title}\n{article.excerpt}" for article in articles)
    grounding = (
        f"Company knowledge base articles:\n{knowledge}\n\n"
        "Use these articles for facts (prices, deadlines, policies); never invent such facts."
        if articles
        else "There is no knowledge base article on this: never invent prices, deadlines or policies."
    )
    return [
        {
            "role": "system",
            "content": (
                "You suggest the next message a customer-service agent could send on WhatsApp. "
                "Write three different short replies in the customer's language "
                f"(default {language_name(language)}). {grounding} "
                'Answer only with a JSON object {"replies": ["...", "...", "..."]}.'
            ),
        },
        {"role": "user", "content": f"Conversation:\n{conversation}"},
    ]


def qualify(*, conversation: str, notes: str) -> list[dict]:
    return [
        {
            "role": "system",
            "content": (
                "You qualify sales leads with BANT from the conversation with the customer. Answer only with a "
                'JSON object {"budget": {"value": <number or null>, "quote": "..."}, '
                '"authority": {"value": "<who decides>", "quote": "..."}, '
                '"need": {"value": "<what they need>", "quote": "..."}, '
                '"timeline": {"value": "<when>", "quote": "..."}}. '
                "Each quote must be the customer's exact words that support the value, copied from the "
                'conversation. When the conversation does not say, use {"value": null, "quote": ""}.'
            ),
        },
        {"role": "user", "content": f"Conversation:\n{conversation}\n\nSales notes:\n{notes or '(none)'}"},
    ]


def bot_reply(
    *, instructions: str, language: str, articles: list, conversation: str, ask_sentiment: bool
) -> list[dict]:
    knowledge = "\n\n".join(f"[Article {article.id}] {article.title}\n{article.excerpt}" for article in articles)
    sentiment = (
        ', "sentiment": "positive" | "neutral" | "negative" (the customer\'s mood in their latest messages)'
        if ask_sentiment
        else ""
    )
    persona = f"{instructions.strip()}\n\n" if instructions and instructions.strip() else ""
    return [
        {
            "role": "system",
            "content": (
                f"{persona}You are a company's customer-service assistant on WhatsApp. Answer the customer's "
                "latest message ONLY from the knowledge base articles below. If the articles do not answer it, "
                "do not guess: say you do not know and set known to false. Never invent prices, deadlines, "
                f"policies or other facts. Write a short reply in {language_name(language)} (or the customer's "
                "language). Answer only with a JSON object "
                '{"answer": "<the reply>", "known": true | false, '
                f'"article_ids": [<ids of the articles used>]{sentiment}}}.'
                f"\n\nKnowledge base articles:\n{knowledge}"
            ),
        },
        {"role": "user", "content": f"Conversation:\n{conversation}"},
    ]


# --- Knowledge base "optimize" (knowledge.optimize) ----------------------------------------------

_ARTICLE_JSON = '{"title": "<title>", "body": "<Markdown body>", "reason": "<one sentence: what changed and why>"}'


def article_rewrite(*, title: str, body: str, language: str) -> list[dict]:
    return [
        {
            "role": "system",
            "content": (
                "You edit a company's customer-service knowledge base. Rewrite the article below so that "
                "customers and agents understand it faster: a clear title, short paragraphs, lists for steps, "
                "plain words. Keep every fact, number, condition and link exactly; add no fact. Write in "
                f"{language_name(language)}, in Markdown. Answer only with a JSON object {_ARTICLE_JSON}, "
                'or {"unchanged": true} when the article is already clear.'
            ),
        },
        {"role": "user", "content": f"Title: {title}\n\n{body}"},
    ]


def articles_merge(*, articles: list[tuple[str, str]], language: str) -> list[dict]:
    listed = "\n\n".join(f"[Article {index}] {title}\n{body}" for index, (title, body) in enumerate(articles, 1))
    return [
        {
            "role": "system",
            "content": (
                "You edit a company's customer-service knowledge base. Decide whether the articles below answer "
                "the same question. If they do, merge them into one article that keeps every fact of each (when "
                "they contradict, keep both statements and say so in the reason). Write in "
                f"{language_name(language)}, in Markdown. Answer only with a JSON object "
                '{"duplicate": true, "title": "<title>", "body": "<Markdown body>", "reason": "<one sentence>"}, '
                'or {"duplicate": false} when they are different topics.'
            ),
        },
        {"role": "user", "content": listed},
    ]


def article_from_conversation(*, conversation: str, language: str) -> list[dict]:
    return [
        {
            "role": "system",
            "content": (
                "You write a company's customer-service knowledge base. The conversation below was resolved by "
                "an agent, and the knowledge base had no article answering the customer's question. Write a "
                "short article answering that question for future customers, using ONLY what the agent said "
                "(no names, phone numbers, order numbers or other personal data; no fact the agent did not "
                f"state). Write in {language_name(language)}, in Markdown. Answer only with a JSON object "
                f'{_ARTICLE_JSON}, or {{"useful": false}} when the conversation holds no reusable answer.'
            ),
        },
        {"role": "user", "content": f"Conversation:\n{conversation}"},
    ]
