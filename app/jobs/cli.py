"""`flask jobs`: the periodic jobs of jobs/schedule.py, listed, or one run now in this process
(an operator's repair, or to see what a job would do today). Output formats are stable."""
import click
from flask.cli import AppGroup

from app.jobs import schedule

jobs_cli = AppGroup("jobs", help="The periodic maintenance jobs.")


def _period(seconds):
    names = {schedule.HOUR: "hourly", schedule.DAY: "daily"}
    return names.get(seconds, f"every {seconds} s")


@jobs_cli.command("list")
def jobs_list():
    """The schedule: name, period, function (one job a line, tab-separated)."""
    for entry in schedule.SCHEDULE:
        click.echo(f"{entry.name}\t{_period(entry.every)}\t{entry.function}")


@jobs_cli.command("run")
@click.argument("name", type=click.Choice([entry.name for entry in schedule.SCHEDULE]))
def jobs_run(name):
    """Run the periodic job NAME now, in this process, and print its summary (what it deleted).
    It is idempotent: running it besides the schedule is harmless. A failure exits non-zero."""
    from app.jobs.runner import run_now
    entry = next(entry for entry in schedule.SCHEDULE if entry.name == name)
    function, result = schedule.resolve(entry.function), {}
    run_now(lambda: result.update(summary=function()))
    summary = result["summary"]
    if isinstance(summary, dict):
        summary = " ".join(f"{key}={value}" for key, value in summary.items())
    click.echo(f"{name}: {summary}")
