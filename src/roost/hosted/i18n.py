"""The page's language (from the session's `locale`, else Accept-Language), Meta's SDK locale,
and the Babel catalogs, compiled from the .po files when this module is imported (no build step).

Update the catalogs after changing the template's texts:
    pybabel extract -F src/roost/hosted/babel.cfg -o src/roost/hosted/translations/messages.pot src/roost/hosted
    pybabel update -i src/roost/hosted/translations/messages.pot -d src/roost/hosted/translations
"""

import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).parent / "translations"

DEFAULT_LANGUAGE = "en"
# Babel locale identifier -> the page's <html lang>
LANGUAGES = {"en": "en", "es": "es", "pt_BR": "pt-BR"}

# Meta's SDK locales (connect.facebook.net/<locale>/sdk.js) for the languages people ask for;
# a tag without a listed region gets its language's usual one.
META_LOCALES_BY_REGION = {
    ("en", "GB"): "en_GB", ("es", "ES"): "es_ES", ("pt", "PT"): "pt_PT", ("fr", "CA"): "fr_CA",
    ("zh", "TW"): "zh_TW", ("zh", "HK"): "zh_HK",
}
META_LOCALES_BY_LANGUAGE = {
    "en": "en_US", "es": "es_LA", "pt": "pt_BR", "fr": "fr_FR", "de": "de_DE", "it": "it_IT", "nl": "nl_NL",
    "id": "id_ID", "tr": "tr_TR", "ru": "ru_RU", "ar": "ar_AR", "hi": "hi_IN", "ja": "ja_JP", "ko": "ko_KR",
    "zh": "zh_CN", "pl": "pl_PL", "vi": "vi_VN", "th": "th_TH", "he": "he_IL", "ms": "ms_MY", "sv": "sv_SE",
}


def _compile(language: str) -> NullTranslations:
    po_file = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    if not po_file.exists():
        return NullTranslations()
    with po_file.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled)


CATALOGS: dict[str, NullTranslations] = {language: _compile(language) for language in LANGUAGES}


def _split(tag: str) -> tuple[str, str | None]:
    parts = tag.strip().replace("_", "-").split("-")
    language = parts[0].lower()
    region = next((part.upper() for part in parts[1:] if len(part) == 2 and part.isalpha()), None)
    return language, region


def accepted_tags(header: str | None, limit: int = 20) -> list[str]:
    """Accept-Language tags, most wanted first (q=0 and '*' left out)."""
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate((header or "").split(",")[:limit]):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or len(tag) > 35:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def page_language(tag: str) -> str | None:
    """The page's catalog for a BCP 47 tag: any Portuguese reads Brazilian Portuguese."""
    language, _ = _split(tag)
    if language == "pt":
        return "pt_BR"
    return language if language in LANGUAGES else None


def requested_tags(session_locale: str | None, accept_language: str | None) -> list[str]:
    return [session_locale] if session_locale else accepted_tags(accept_language)


def choose_language(session_locale: str | None, accept_language: str | None) -> str:
    """The session's locale when it names a language the page speaks, else the browser's."""
    for tag in requested_tags(session_locale, None) + accepted_tags(accept_language):
        language = page_language(tag)
        if language:
            return language
    return DEFAULT_LANGUAGE


def meta_locale(session_locale: str | None, accept_language: str | None, language: str) -> str:
    """Meta's SDK locale: the one the user asked for when Meta has it, else the page's language."""
    tags = requested_tags(session_locale, accept_language)
    if tags:
        wanted, region = _split(tags[0])
        found = META_LOCALES_BY_REGION.get((wanted, region or "")) or META_LOCALES_BY_LANGUAGE.get(wanted)
        if found:
            return found
    return META_LOCALES_BY_LANGUAGE[_split(language)[0]]
