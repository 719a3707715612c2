"""The adapter over the real `openai` client, against the fake provider on loopback."""

import pytest

from ai.exceptions import AIProviderError, AIProviderTimeout
from ai.providers import AIClient
from ai.tests.fakes import CHAT, EMBEDDINGS, TRANSCRIPTIONS, multipart_fields, vector_of


@pytest.fixture
def client(fake_openai, settings):
    settings.AI_MAX_RETRIES = 2
    return AIClient(base_url=fake_openai.base_url, api_key=fake_openai.api_key, timeout=5)


def test_chat_returns_the_text_the_model_and_the_tokens(client, fake_openai):
    fake_openai.reply("Olá! Como posso ajudar?", prompt_tokens=42, completion_tokens=7)
    completion = client.chat(model="fake-chat", messages=[{"role": "user", "content": "oi"}], max_tokens=50)
    assert (completion.text, completion.model) == ("Olá! Como posso ajudar?", "fake-chat")
    assert (completion.prompt_tokens, completion.completion_tokens) == (42, 7)
    assert completion.latency_ms >= 0
    (sent,) = fake_openai.chat_requests()
    assert sent["model"] == "fake-chat"
    assert sent["messages"] == [{"role": "user", "content": "oi"}]
    assert sent["max_tokens"] == 50
    (request,) = fake_openai.requests_to("POST", CHAT)
    assert request.headers["authorization"] == f"Bearer {fake_openai.api_key}"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried(client, fake_openai, status):
    fake_openai.fail(status=status, times=2)
    fake_openai.reply("Third time lucky.")
    assert client.chat(model="m", messages=[{"role": "user", "content": "x"}]).text == "Third time lucky."
    assert len(fake_openai.requests_to("POST", CHAT)) == 3


def test_errors_left_after_the_retries_say_they_are_retryable(client, fake_openai):
    fake_openai.fail(status=429, times=3)
    with pytest.raises(AIProviderError) as caught:
        client.chat(model="m", messages=[{"role": "user", "content": "x"}])
    assert (caught.value.code, caught.value.retryable, caught.value.status_code) == (
        "ai_provider_rate_limited",
        True,
        502,
    )
    assert len(fake_openai.requests_to("POST", CHAT)) == 3


def test_a_wrong_key_is_not_retried(fake_openai):
    client = AIClient(base_url=fake_openai.base_url, api_key="sk-wrong", timeout=5, max_retries=2)
    with pytest.raises(AIProviderError) as caught:
        client.chat(model="m", messages=[{"role": "user", "content": "x"}])
    assert (caught.value.code, caught.value.retryable) == ("ai_provider_auth_failed", False)
    assert len(fake_openai.requests_to("POST", CHAT)) == 1


def test_a_slow_provider_times_out(fake_openai):
    client = AIClient(base_url=fake_openai.base_url, api_key=fake_openai.api_key, timeout=0.3, max_retries=0)
    fake_openai.fail(status=200, delay=2)
    with pytest.raises(AIProviderTimeout) as caught:
        client.chat(model="m", messages=[{"role": "user", "content": "x"}])
    assert (caught.value.code, caught.value.status_code) == ("ai_provider_timeout", 504)


def test_an_unreachable_provider(settings):
    client = AIClient(base_url="http://127.0.0.1:1/v1", api_key="k", timeout=2, max_retries=0)
    with pytest.raises(AIProviderError) as caught:
        client.chat(model="m", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "ai_provider_unreachable"


def test_embeddings(client, fake_openai):
    result = client.embed(model="fake-embed", texts=["entrega", "nota fiscal"])
    assert result.vectors == [vector_of("entrega"), vector_of("nota fiscal")]
    assert result.prompt_tokens == 3
    assert fake_openai.requests_to("POST", EMBEDDINGS)[0].json()["input"] == ["entrega", "nota fiscal"]


def test_transcription_uploads_the_audio(client, fake_openai):
    fake_openai.transcript("Quero trocar o tamanho do tênis.")
    result = client.transcribe(
        model="fake-whisper", filename="voice.ogg", content=b"OggS-audio", mime_type="audio/ogg", language="pt"
    )
    assert (result.text, result.language, result.model) == ("Quero trocar o tamanho do tênis.", "pt", "fake-whisper")
    (request,) = fake_openai.requests_to("POST", TRANSCRIPTIONS)
    fields = multipart_fields(request)
    assert fields["file"] == b"OggS-audio"
    assert fields["model"] == b"fake-whisper"
    assert fields["language"] == b"pt"
