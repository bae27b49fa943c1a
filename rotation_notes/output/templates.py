"""Rendering: Jinja templates to region text, with no I/O but template loading.

One template per region, ``<region>.md.j2``. The defaults ship with the
package; a vault may override any of them with a file of the same name in the
folder its ``rotation-notes.toml`` names (``templates_dir``). Vault templates
come from possibly shared vaults, so every template renders in Jinja's
sandbox with undefined names as errors.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.loaders import split_template_path
from jinja2.sandbox import SandboxedEnvironment

from rotation_notes.errors import TemplateError
from rotation_notes.output.sandbox import (
    LimitedSandbox,
    RenderLimitError,
    memory_limit,
    recursion_cleanup_quiet,
    stream_limited,
    time_limit,
    work_budget,
)
from rotation_notes.thesis.metrics import Figure
from rotation_notes.vault.files import open_regular, stays_inside

#: Largest template file a vault may bring (the shipped ones are ~2 KB).
MAX_TEMPLATE_BYTES = 256 * 1024


def default_templates_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    shipped = package / "templates"  # inside an installed wheel
    return shipped if shipped.is_dir() else package.parent / "templates"  # source checkout


#: From this size on a price or a hand-entered number is written in scientific notation
#: (``1.00e+12``), never with hundreds of digits: no close is this high (see
#: ``marketdata.MAX_CLOSE``), but a hand-entered metric can be any number YAML reads.
BIG_NUMBER = 1e12
#: From this size on a percentage is written in scientific notation (``+1.0e+06%``): a
#: move of +1,000,000% is ×10,001, beyond any real one.
BIG_PCT = 1e6


def _num(value: Any) -> float | None:
    if isinstance(value, Figure):
        return value.pct
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past 1e308
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def _signed(f: float, digits: int) -> str:
    if abs(f) >= BIG_PCT:
        return f"{f:+.{digits}e}"
    text = f"{f:+.{digits}f}"
    return text[1:] if float(text) == 0 else text  # no "-0.0" or "+0.0"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """``5.83 -> '+5.8%'``, ``-0.004 -> '0.0%'``, ``1e9 -> '+1.0e+09%'``; missing -> ``'n/a'``."""
    f = _num(value)
    return "n/a" if f is None else _signed(f, digits) + "%"


def fmt_pp(value: Any, digits: int = 1) -> str:
    f = _num(value)
    return "n/a" if f is None else _signed(f, digits) + " pp"


def fmt_price(value: Any) -> str:
    """``1234.5 -> '1,234.50'``; below a cent 3 significant digits (``'0.00123'``,
    ``'1.23e-06'``); from ``BIG_NUMBER`` on scientific (``'1.00e+12'``)."""
    f = _num(value)
    if f is None:
        return "n/a"
    if abs(f) >= BIG_NUMBER:
        return f"{f:.2e}"
    if 0 < abs(f) < 0.01:
        return f"{f:.3g}"
    return f"{f:,.2f}"


def fmt_number(value: Any, digits: int = 1) -> str:
    """A hand-entered figure: ``18 -> '18'``, ``17.25 -> '17.2'``; one too small for
    ``digits`` keeps 2 significant digits (``'0.004'``, ``'3e-05'``), and one from
    ``BIG_NUMBER`` on is scientific (``'1.0e+308'``)."""
    f = _num(value)
    if f is None:
        return "n/a"
    if abs(f) >= BIG_NUMBER:
        return f"{f:.{digits}e}"
    if f != 0 and round(f, digits) == 0:
        return f"{f:.2g}"
    return f"{f:.0f}" if f == int(f) else f"{f:.{digits}f}"


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, one line."""
    return str(value).replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def wikilink(target: str, alias: str | None = None, *, in_table: bool = True) -> str:
    """``[[target|alias]]``; inside a table the pipe is escaped (``\\|``)."""
    pipe = "\\|" if in_table else "|"
    return f"[[{target}{pipe}{alias}]]" if alias else f"[[{target}]]"


class VaultTemplateLoader(jinja2.FileSystemLoader):
    """Template overrides from the vault: only real files inside the vault, of sane size.

    A symlink in a shared vault could otherwise render any file the user can
    read (an SSH key, say) into a note that syncs back to whoever wrote it.
    """

    def __init__(self, folder: Path, vault_root: Path) -> None:
        super().__init__(str(folder), followlinks=False)
        self.vault_root = vault_root.resolve()

    def get_source(self, environment: jinja2.Environment, template: str) -> Any:
        # Found as FileSystemLoader finds it (no "..", case as given), but read here:
        # only a regular file is ever opened (a named pipe would block the run).
        pieces = split_template_path(template)
        filename = os.path.join(self.searchpath[0], *pieces)
        if not os.path.lexists(filename):
            raise jinja2.TemplateNotFound(template)  # the shipped template is used
        real = Path(filename).resolve()
        if not stays_inside(real, self.vault_root):
            raise TemplateError(
                f"template {template} is a link to a file outside the vault ({real}); not used",
                path=filename,
                hint="vault templates must be files inside the vault",
            )
        try:
            with open_regular(filename) as fh:
                mtime = os.fstat(fh.fileno()).st_mtime_ns
                data = fh.read(MAX_TEMPLATE_BYTES * 4 + 1)
        except OSError as exc:
            raise TemplateError(
                f"cannot read template {template}: {exc.strerror or exc}",
                path=filename,
                hint="a template override must be a regular text file",
            ) from None
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateError(
                f"template is not valid UTF-8 (byte {exc.start})",
                path=filename,
                hint="save the template as UTF-8",
            ) from None
        if len(source) > MAX_TEMPLATE_BYTES:
            raise TemplateError(
                f"template is {len(source):,} characters; the limit is {MAX_TEMPLATE_BYTES:,}",
                path=filename,
                hint="a region template formats a table or two; trim it",
            )

        def uptodate() -> bool:
            try:
                return os.stat(filename).st_mtime_ns == mtime
            except OSError:
                return False

        return source, os.path.normpath(filename), uptodate


_LINE_BREAK = re.compile(r"\r\n?|\n")


def one_line(text: str) -> str:
    """``text`` with each line break (CRLF, LF or a lone CR) made a space."""
    return _LINE_BREAK.sub(" ", text) if "\n" in text or "\r" in text else text


def one_line_values(value: Any) -> Any:
    """``value`` (a template context) with every text in it made one line.

    Everything a template is given comes from a note, a linked note or the market data (a
    label, a metric's source, a catalyst note's name, a provider's message): with its line
    breaks made spaces, no value can add a line to a region, let alone a marker line. A
    template's own text, macros and blocks keep theirs.
    """
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, dict):
        return {k: one_line_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(one_line_values(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: one_line_values(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


def make_env(override_dir: Path | None, vault_root: Path | None = None) -> LimitedSandbox:
    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(VaultTemplateLoader(override_dir, vault_root or override_dir))
    loaders.append(jinja2.FileSystemLoader(str(default_templates_dir())))
    env = LimitedSandbox(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct=fmt_pct, pp=fmt_pp, price=fmt_price, num=fmt_number, cell=cell, wikilink=wikilink
    )
    env.limit_filters()
    return env


def _template_frame(exc: BaseException) -> tuple[str | None, int | None]:
    """The template file and line a runtime error happened at (Jinja rewrites tracebacks)."""
    found: tuple[str | None, int | None] = (None, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(".j2"):
            found = (frame.filename, frame.lineno)
    return found


def render_template(
    env: SandboxedEnvironment, template_name: str, context: Mapping[str, Any]
) -> str:
    """Render one template; any failure is a TemplateError naming file and line."""
    try:
        template = env.get_template(template_name)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"template syntax error: {exc.message}",
            path=exc.filename or template_name,
            line=exc.lineno,
            hint="fix the template; the note was left untouched",
        ) from exc
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template '{template_name}' not found") from exc
    try:
        with memory_limit(), time_limit(), work_budget(), recursion_cleanup_quiet():
            return stream_limited(template.generate(context))
    except Exception as exc:  # noqa: BLE001 - any failure while rendering is the template's
        file, line = _template_frame(exc)
        if isinstance(exc, jinja2.exceptions.SecurityError):
            message = f"template blocked by the sandbox: {exc}"
            hint = "vault templates may only format the data they are given"
        elif isinstance(exc, RenderLimitError):
            message = f"template stopped at a limit: {exc}"
            hint = "see docs/security.md for the template limits; the note was left untouched"
        elif isinstance(exc, jinja2.TemplateNotFound):
            message = (
                f"template error: it includes or imports '{exc.name}', which is neither in the "
                "vault's templates folder nor among the shipped templates"
            )
            hint = "include only templates from the templates folder, by a name relative to it"
        elif isinstance(exc, RecursionError):
            message = "template error: recursion too deep (a macro calling itself without end?)"
            hint = "fix the template; the note was left untouched"
        else:
            detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            message = f"template error: {detail}"
            hint = "fix the template; the note was left untouched"
        raise TemplateError(message, path=file or template.filename, line=line, hint=hint) from exc
