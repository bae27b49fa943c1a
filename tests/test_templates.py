"""Vault template overrides: used, sandboxed, and errors that name the template file and line."""

from __future__ import annotations

from conftest import THESIS, run_cli


def vault_with_template(make_vault, source: str):
    vault = make_vault({"t.md": THESIS, "_tpl/headline.md.j2": source})
    (vault / "rotation-notes.toml").write_text(
        'data_dir = "Data/market-data"\ntemplates_dir = "_tpl"\n'
    )
    return vault


def test_override_replaces_default(make_vault):
    vault = vault_with_template(
        make_vault, "Custom: {{ long.ticker }} {{ long.stats.ytd|pct(2) }}\n"
    )
    result = run_cli("refresh", vault, "--as-of", "2026-02-04")
    assert result.returncode == 0, result.stderr
    text = (vault / "t.md").read_text()
    assert "%% rotation-notes:headline %%\nCustom: IWM +5.83%\n%%" in text
    assert "| Metric | Small caps (IWM)" in text  # other regions keep the default


def test_sandbox_blocks_python_internals(make_vault):
    vault = vault_with_template(make_vault, "ok\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    before = (vault / "t.md").read_bytes()
    result = run_cli("refresh", vault)
    assert result.returncode == 2
    assert "_tpl/headline.md.j2:2: template blocked by the sandbox" in result.stderr
    assert (vault / "t.md").read_bytes() == before


def test_syntax_error_names_file_and_line(make_vault):
    vault = vault_with_template(make_vault, "line one\n{% if %}\n")
    result = run_cli("refresh", vault)
    assert result.returncode == 2
    assert "_tpl/headline.md.j2:2: template syntax error" in result.stderr


def test_undefined_name_is_an_error(make_vault):
    vault = vault_with_template(make_vault, "{{ long.tikcer }}\n")
    result = run_cli("refresh", vault)
    assert result.returncode == 2
    assert "headline.md.j2:1: template error:" in result.stderr and "tikcer" in result.stderr
