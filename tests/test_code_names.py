"""fer_core.sessions.code_names: the names a class's code uses, found without parsing any source."""

from __future__ import annotations

import ast

import pytest

from fer_core.sessions.code_names import class_code_names


class Base:
    def inherited(self) -> int:
        return self.only_in_the_base


class Sample(Base):
    limit = 3

    def method(self) -> int:
        return self.read_by_method

    def nested(self) -> list[int]:
        def inner() -> int:
            return self.read_in_a_closure

        return [item.read_in_a_comprehension for item in (inner(),)]

    @staticmethod
    def static() -> str:
        return str(global_in_a_static_method)  # noqa: F821 (never called: only its code is read)

    @classmethod
    def klass(cls) -> int:
        return cls.read_by_a_classmethod

    @property
    def prop(self) -> int:
        return self.read_by_a_property


def test_names_come_from_methods_closures_comprehensions_static_and_class_methods_and_properties():
    names = class_code_names(Sample)
    for name in (
        "read_by_method", "read_in_a_closure", "read_in_a_comprehension", "global_in_a_static_method",
        "read_by_a_classmethod", "read_by_a_property",
    ):  # fmt: skip
        assert name in names, name
    assert "only_in_the_base" not in names  # the class's own code only, as inspect.getsource(cls) would show
    assert "limit" not in names  # a class attribute is not code that uses a name


def test_a_non_class_is_refused():
    with pytest.raises(TypeError, match="expects a class"):
        class_code_names(Sample())


@pytest.fixture
def parsed(monkeypatch) -> list[str]:
    """The file names ``ast.parse`` is asked to parse (CPython 3.11's parser is not thread-safe, and Streamlit runs
    scripts in threads): recorded, then parsed as usual."""
    calls: list[str] = []
    original = ast.parse

    def recording_parse(source, filename="<unknown>", *args, **kwargs):
        calls.append(str(filename))
        return original(source, filename, *args, **kwargs)

    monkeypatch.setattr(ast, "parse", recording_parse)
    return calls


def test_the_upload_patch_checks_starlette_without_parsing_its_source(parsed):
    from starlette.formparsers import MultiPartParser

    from fer_core.sessions.upload import keep_uploads_in_memory

    assert keep_uploads_in_memory()
    assert parsed == []
    assert "spool_max_size" in class_code_names(MultiPartParser)


def test_the_keras_session_patch_checks_streamlit_without_parsing_its_source(parsed):
    from fer_core.sessions.app_support import _streamlit_cleanup_hook

    assert callable(_streamlit_cleanup_hook())
    assert parsed == []
