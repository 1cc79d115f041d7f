"""The recsys command line (build, related, similar, info, serve, eval, tune, editorial, demo), each a thin
layer over the library."""

from __future__ import annotations

import json
import sys
import time
from functools import wraps
from importlib import resources
from pathlib import Path

import click

from .config import load_config_file
from .errors import InputError, ParameterError, RecsysError
from .index.generations import current
from .related_index import RelatedIndex

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def _one_line_errors(command):
    """Turn library errors into one line on stderr and a non-zero exit, never a traceback."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (InputError, ParameterError) as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except RecsysError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_FAILED)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="recsys")
def main() -> None:
    """Related-articles lists for news sites: build an index, then ask it what is related."""


def _parse_setting(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ParameterError(f"--set expects KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Index directory to write (default: indexes/<input name>).")
@click.option("--method", type=click.Choice(["tfidf", "bm25"]), help="Similarity weighting.")
@click.option("--format", "input_format", type=click.Choice(["jsonl", "csv"]),
              help="Input format (default: from the file extension).")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="On a bad row: stop (exit 2), or report it and go on.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON file of build parameters (e.g. the output of `recsys tune`).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Any build parameter, e.g. --set k1=1.2 --set 'field_weights={\"title\": 3, \"body\": 1}'.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal).")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Build on Dask distributed (needs recsys[dask]): a scheduler address such as "
                   "tcp://host:8786, or \"local\" for a local cluster of 2 worker processes. Every worker "
                   "reads INPUT at the same path.")
@_one_line_errors
def build(input_path: Path, output: Path | None, method: str | None, input_format: str | None, on_error: str,
          config_path: Path | None, settings: tuple[str, ...], progress: bool | None,
          dask_address: str | None) -> None:
    """Build an index from a JSONL or CSV file of articles."""
    from .documents.readers import read_articles

    params = load_config_file(config_path) if config_path else {}
    params.update(_parse_setting(s) for s in settings)
    if method:
        params["method"] = method
    output = output or Path("indexes") / input_path.stem
    skipped = []

    def report(error: InputError) -> None:
        skipped.append(error)
        click.echo(f"skipped: {error}", err=True)

    started = time.perf_counter()
    progress = sys.stderr.isatty() if progress is None else progress
    if dask_address:
        index = RelatedIndex.build_on_dask(input_path, dask_address, format=input_format, on_error=on_error,
                                           on_skip=report, progress=progress, **params)
    else:
        articles = read_articles(input_path, format=input_format, on_error=on_error, on_skip=report)
        index = RelatedIndex.build(articles, progress=progress, **params)
    index.save(output)
    seconds = time.perf_counter() - started
    size = sum(f.stat().st_size for f in output.iterdir())
    click.echo(f"built {output}: {len(index)} articles, {index.vocabulary_size} terms, "
               f"{len(skipped)} skipped rows, {seconds:.1f} s, {size / 1e6:.1f} MB on disk", err=True)


def _filter_options(command):
    for option in reversed([
        click.option("-k", "k", type=int, default=10, show_default=True, help="How many articles to list."),
        click.option("--section", help="Only articles of this section."),
        click.option("--tag", "tags", multiple=True, help="Only articles with one of these tags (repeatable)."),
        click.option("--author", help="Only articles by this author."),
        click.option("--after", "published_after", help="Only articles published at or after this ISO 8601 time."),
        click.option("--before", "published_before", help="Only articles published at or before this ISO 8601 time."),
        click.option("--exclude", multiple=True, help="Never list this article id (repeatable)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    ]):
        command = option(command)
    return command


def _print_hits(hits, as_json: bool, header: dict) -> None:
    if as_json:
        click.echo(json.dumps({**header, "results": [h.to_dict(body=False) for h in hits]}, ensure_ascii=False,
                              indent=2))
        return
    if not hits:
        click.echo("no related articles")
    for rank, hit in enumerate(hits, start=1):
        date = (hit.published_at or "")[:10]
        click.echo(f"{rank:>3}  {hit.score:6.3f}  {hit.id:<14} {hit.section or '-':<11} {date:<10}  {hit.title}")


@main.command()
@click.argument("index_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.argument("article_id", metavar="ID")
@_filter_options
@_one_line_errors
def related(index_dir: Path, article_id: str, as_json: bool, **query) -> None:
    """List the articles related to article ID."""
    index = RelatedIndex.load(index_dir)
    _print_hits(index.related(article_id, **query), as_json, {"article_id": article_id})


@main.command()
@click.argument("index_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.argument("text", metavar="(TEXT | -)")
@click.option("--title", help="The draft's title (weighted like indexed titles).")
@_filter_options
@_one_line_errors
def similar(index_dir: Path, text: str, as_json: bool, **query) -> None:
    """List the articles most like a text that is not indexed (use - to read it from stdin)."""
    if text == "-":
        text = sys.stdin.read()
    index = RelatedIndex.load(index_dir)
    _print_hits(index.more_like_this(text, **query), as_json, {})


@main.command()
@click.argument("index_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_one_line_errors
def info(index_dir: Path, as_json: bool) -> None:
    """Describe an index directory: counts, parameters, size; verifies every checksum."""
    index = RelatedIndex.load(index_dir)
    details = {"path": str(index_dir), **index.info(),
               "bytes_on_disk": sum(f.stat().st_size for f in current(Path(index_dir)).iterdir() if f.is_file())}
    if as_json:
        click.echo(json.dumps(details, indent=2, ensure_ascii=False))
        return
    for key in ("path", "articles", "vocabulary", "nonzeros", "neighbors_per_article", "method", "bytes_on_disk"):
        click.echo(f"{key:<22} {details[key]}")
    for key, value in index.config.flat().items():
        click.echo(f"  {key:<20} {json.dumps(value)}")


@main.command()
@click.argument("index_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int,
              help="Worker processes; they share the memory-mapped index.")
@click.option("--events-db", type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite file for events (default: <DIR>.events.sqlite3).")
@_one_line_errors
def serve(index_dir: Path, host: str, port: int, workers: int, events_db: Path | None) -> None:
    """Serve related lists over HTTP (writes need RECSYS_API_TOKEN, reload and compaction
    RECSYS_ADMIN_TOKEN, in the environment; see docs/deploy.md)."""
    import os

    from .feedback import Variants

    RelatedIndex.load(index_dir)  # refuse a bad index before listening
    Variants.parse(os.environ.get("RECSYS_VARIANTS"))  # and bad A/B variants
    _serve(index_dir, host, port, workers=workers, events_db=events_db)


def _serve(index_dir: Path, host: str, port: int, *, workers: int, events_db: Path | None,
           demo_page: bool = False) -> None:
    """Run uvicorn on the app factory; settings reach every worker through RECSYS_* variables. The
    workers' request counters meet in a fresh directory for this run (PROMETHEUS_MULTIPROC_DIR), so
    /metrics counts every worker's requests; it is removed at exit (or, after kill -9, by the next run)."""
    import os
    import shutil
    import tempfile

    import uvicorn

    os.environ["RECSYS_INDEX"] = str(index_dir.resolve())
    if events_db is not None:
        os.environ["RECSYS_EVENTS_DB"] = str(events_db.resolve())
    if demo_page:
        os.environ["RECSYS_DEMO_PAGE"] = os.environ["RECSYS_WIDGET_VIEWS"] = "true"
    for stale in Path(tempfile.gettempdir()).glob("recsys-metrics-*-*"):  # of runs that were killed
        pid = stale.name.split("-")[2]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except (ValueError, OSError):
            pass  # not ours, or a live process of another user
    metrics_dir = tempfile.mkdtemp(prefix=f"recsys-metrics-{os.getpid()}-")
    previous = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # before uvicorn starts (and imports) the app
    try:
        uvicorn.run("recsys.server.app:app_from_environment", factory=True, host=host, port=port,
                    workers=workers, log_level="warning", access_log=False)  # its lines: INFO, not shown
    finally:
        if previous is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = previous
        shutil.rmtree(metrics_dir, ignore_errors=True)


@main.command(name="eval")
@click.argument("index_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.argument("judgments", metavar="JUDGMENTS", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "judgment_format", type=click.Choice(["pairwise", "qrels", "clicks", "events"]),
              help="pairwise JSON ratings, qrels JSONL, a click log, or the service's events file, whose widget "
                   "impressions and clicks are a click log (default: from the file).")
@click.option("-k", "k", type=int, default=10, show_default=True, help="List length the metrics look at.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_one_line_errors
def evaluate_command(index_dir: Path, judgments: Path, judgment_format: str | None, k: int, as_json: bool) -> None:
    """Score an index against judgments: nDCG@k, recall@k, MRR, P@k, coverage (and Pearson and
    Spearman for pairwise ratings)."""
    from .evaluation.metrics import evaluate

    metrics = evaluate(RelatedIndex.load(index_dir), judgments, k=k, format=judgment_format)
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
        return
    for name, value in metrics.items():
        click.echo(f"{name:<12} {value:.4f}" if isinstance(value, float) else f"{name:<12} {value}")


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("judgments", metavar="JUDGMENTS", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("best.json"),
              show_default=True, help="Where to write the best parameters (for `recsys build --config`).")
@click.option("--grid", "grid_path", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON object of parameter -> list of values (default: method, tf, stemming, k1, b, "
                   "field weights, blend weights).")
@click.option("--search", type=click.Choice(["grid", "random"]), default="grid", show_default=True)
@click.option("--n-iter", type=int, default=20, show_default=True, help="Parameter sets tried by random search.")
@click.option("--folds", type=int, default=3, show_default=True, help="Cross-validation folds over the queries.")
@click.option("-k", "k", type=int, default=10, show_default=True, help="List length nDCG looks at.")
@click.option("--format", "judgment_format", type=click.Choice(["pairwise", "qrels", "clicks", "events"]),
              help="Judgments format (default: from the file); `events` is the service's events file.")
@_one_line_errors
def tune(input_path: Path, judgments: Path, output: Path, grid_path: Path | None, search: str, n_iter: int,
         folds: int, k: int, judgment_format: str | None) -> None:
    """Search parameters for the best nDCG@k on judgments, cross-validated; write the best as a config."""
    from .evaluation.tuning import tune as run_tuning

    grid = load_config_file(grid_path) if grid_path else None
    result = run_tuning(input_path, judgments, grid=grid, search=search, n_iter=n_iter, folds=folds, k=k,
                        format=judgment_format)
    output.write_text(json.dumps(result["best"], indent=2) + "\n", encoding="utf-8")
    click.echo(f"{result['candidates']} parameter sets; best nDCG@{k} {result[f'ndcg@{k}']:.4f}, "
               f"cross-validated {result[f'cv_ndcg@{k}']:.4f} ({folds} folds); wrote {output}")
    for row in result["results"][:5]:
        click.echo(f"  {row[f'ndcg@{k}']:.4f}  {json.dumps(row['params'], sort_keys=True)}")


@main.command()
@click.argument("events_db", metavar="EVENTS_DB", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "start", metavar="TIME", help="Start of the period, ISO 8601 (default: 30 days before --to).")
@click.option("--to", "end", metavar="TIME", help="End of the period, ISO 8601 (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (what GET /v1/stats answers).")
@_one_line_errors
def report(events_db: Path, start: str | None, end: str | None, as_json: bool) -> None:
    """Click-through of the related block per A/B variant, from the service's events file: impressions,
    clicks, CTR with its 95% Wilson interval, the z-test against control, and CTR by position."""
    import os

    from .documents.article import parse_time
    from .feedback import FeedbackStore, Variants, format_report, report as click_report

    if not events_db.is_file():
        raise InputError("no such file", source=str(events_db))
    try:
        period = [parse_time(value) if value else None for value in (start, end)]
    except ValueError as error:
        raise ParameterError(f"--from/--to: {error}") from None
    store = FeedbackStore(events_db)
    try:
        store.roll_up()
        data = click_report(store, *period, variants=Variants.parse(os.environ.get("RECSYS_VARIANTS")).names)
    finally:
        store.close()
    click.echo(json.dumps(data, indent=2) if as_json else format_report(data))


@main.command()
@click.argument("index_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.argument("article_id", metavar="ID")
@click.option("--pin", "pins", multiple=True, help="Always list this article first (repeatable, in order).")
@click.option("--block", "blocks", multiple=True, help="Never list this article (repeatable).")
@click.option("--clear", is_flag=True, help="Remove the article's pins and blocks first.")
@_one_line_errors
def editorial(index_dir: Path, article_id: str, pins: tuple[str, ...], blocks: tuple[str, ...], clear: bool) -> None:
    """Show or change the pins and blocks of one article's related list, without a rebuild.
    A running service picks them up on POST /v1/admin/reload."""
    index = RelatedIndex.load(index_dir)
    if clear:
        index.set_editorial(article_id, pins=[], blocks=[])
    rules = index.set_editorial(article_id, pins=pins or None, blocks=blocks or None)
    if clear or pins or blocks:
        index.save_editorial(index_dir)
    click.echo(json.dumps(rules, ensure_ascii=False))


def sample_corpus_path():
    """The bundled sample corpus (60 original short news articles)."""
    return resources.files("recsys") / "data" / "sample_articles.jsonl"


@main.command()
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("indexes/demo"),
              show_default=True, help="Where to write the demo index.")
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Serve the demo page and API, or only print related lists.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("-n", "count", type=int, default=4, show_default=True, help="With --no-serve: articles to show.")
@click.option("-k", "k", type=int, default=5, show_default=True, help="With --no-serve: related per article.")
@_one_line_errors
def demo(output: Path, serve: bool, host: str, port: int, count: int, k: int) -> None:
    """Index the bundled sample corpus, then serve a demo page of related lists (or print them)."""
    with resources.as_file(sample_corpus_path()) as corpus:
        index = RelatedIndex.build(corpus)
    index.save(output)
    click.echo(f"indexed {len(index)} sample articles into {output}\n")
    if serve:
        click.echo(f"demo page: http://{host}:{port}/  (API docs at /docs; Ctrl+C stops)")
        _serve(output, host, port, workers=1, events_db=None, demo_page=True)
        return
    for article_id in index.ids[:: max(1, len(index) // max(1, count))][:count]:
        article = index.article(article_id)
        click.echo(f"{article_id}: {article.title}")
        _print_hits(index.related(article_id, k=k), False, {})
        click.echo("")
