"""Known OpenAI-compatible providers, as data: choosing one fills the base URL and suggested models.

Every field stays editable afterwards; `custom` is any other OpenAI-compatible server.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    base_url: str
    chat_model: str
    embeddings_model: str = ""
    transcription_model: str = ""
    needs_api_key: bool = True


PRESETS: dict[str, Preset] = {
    preset.key: preset
    for preset in [
        Preset(
            key="openai",
            label="OpenAI",
            base_url="https://api.openai.com/v1",
            chat_model="gpt-4o-mini",
            embeddings_model="text-embedding-3-small",
            transcription_model="whisper-1",
        ),
        Preset(
            key="groq",
            label="Groq",
            base_url="https://api.groq.com/openai/v1",
            chat_model="llama-3.1-8b-instant",
            transcription_model="whisper-large-v3-turbo",
        ),
        Preset(
            key="gemini",
            label="Google Gemini (OpenAI-compatible)",
            base_url="https://generativelanguage.googleapis.com/v1beta/openai",
            chat_model="gemini-2.0-flash",
            embeddings_model="text-embedding-004",
        ),
        Preset(
            key="ollama",
            label=_("Local server (Ollama / vLLM)"),
            base_url="http://localhost:11434/v1",
            chat_model="llama3.1",
            embeddings_model="nomic-embed-text",
            needs_api_key=False,
        ),
    ]
}

CUSTOM = "custom"
PRESET_CHOICES = [(key, preset.label) for key, preset in PRESETS.items()] + [(CUSTOM, _("Other (custom)"))]
