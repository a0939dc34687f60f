"""Choosing the page's language and Meta's SDK locale (SPEC 4.2)."""

import pytest

from roost.hosted import i18n


@pytest.mark.parametrize(
    ("session_locale", "accept_language", "language"),
    [
        ("es", "en-US,en;q=0.9", "es"),
        ("pt-BR", None, "pt_BR"),
        ("pt", None, "pt_BR"),
        (None, "pt-BR,pt;q=0.9,en;q=0.5", "pt_BR"),
        (None, "de-DE,es;q=0.8,en;q=0.5", "es"),
        (None, "en;q=0.2,es;q=0.9", "es"),
        (None, "es;q=0", "en"),
        (None, None, "en"),
        (None, "garbage;;q=x,,", "en"),
        ("fr", "pt-BR", "pt_BR"),
    ],
)
def test_page_language(session_locale, accept_language, language):
    assert i18n.choose_language(session_locale, accept_language) == language


@pytest.mark.parametrize(
    ("session_locale", "accept_language", "meta"),
    [
        ("es", None, "es_LA"),
        ("es-ES", None, "es_ES"),
        ("pt-BR", None, "pt_BR"),
        ("en", None, "en_US"),
        (None, "en-GB,en;q=0.8", "en_GB"),
        (None, "fr-FR,es;q=0.5", "fr_FR"),
        (None, None, "en_US"),
    ],
)
def test_metas_sdk_locale(session_locale, accept_language, meta):
    language = i18n.choose_language(session_locale, accept_language)
    assert i18n.meta_locale(session_locale, accept_language, language) == meta


@pytest.mark.parametrize("language", ["es", "pt_BR"])
def test_every_text_is_translated(language):
    from babel.messages.pofile import read_po

    with (i18n.TRANSLATIONS / "messages.pot").open("rb") as source:
        template = read_po(source)
    catalog = i18n.CATALOGS[language]
    for message in template:
        if message.id:
            assert catalog.gettext(message.id) != message.id, message.id
