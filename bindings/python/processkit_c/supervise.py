"""Supervision: keep a command running by a restart policy (pk_supervise).

    report = supervise(["my-worker"], restart="on-failure", max_restarts=5, backoff_initial=0.2)
    report.runs, report.restarts, report.stop_reason     # 6, 5, SuperviseEvent.GAVE_UP
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, NamedTuple, Optional, Union

from . import _native as N
from . import _util as U
from ._util import Args
from .errors import error_for
from .run import CancelToken, Result, _blocking, _Command, _native_call

__all__ = ["supervise", "SuperviseReport", "SupervisionEvent", "Restart", "StormAction", "SuperviseEvent"]

Restart = N.Restart
StormAction = N.StormAction
SuperviseEvent = N.SuperviseEvent
_RESTART = U.enum_names(N.Restart)
_STORM = U.enum_names(N.StormAction)


class SupervisionEvent(NamedTuple):
    """What on_event receives: the event, the restarts so far, the delay
    before the next start (RESTARTING; seconds) and the run's Result (EXITED)."""

    event: N.SuperviseEvent
    restarts: int
    delay: float
    result: Optional[Result]


class SuperviseReport(NamedTuple):
    runs: int  # how many times the command started
    restarts: int  # runs - 1, when it ran at all
    storm_pauses: int
    stop_reason: N.SuperviseEvent  # STOPPED, GAVE_UP, or EXITED when the policy was satisfied


def supervise(args: Args, *, restart: Union[str, int] = "on-failure", max_restarts: int = 0,
              backoff_initial: float = 0.2, backoff_max: float = 30.0, backoff_multiplier: float = 2.0,
              jitter: bool = True, storm_restarts: int = 0, storm_window: float = 0.0,
              storm_action: Union[str, int] = "give-up", storm_pause: float = 0.0,
              on_event: Optional[Callable[[SupervisionEvent], None]] = None,
              stop_when: Optional[Callable[[Result], bool]] = None, stop: Optional[CancelToken] = None,
              **options: Any) -> SuperviseReport:
    """Run `args` again and again: restart "on-failure" (default), "always" or
    "never"; at most `max_restarts` restarts (0: unlimited); backoff from
    `backoff_initial` seconds by `backoff_multiplier` up to `backoff_max`
    (with `jitter`); a storm guard (`storm_restarts` within `storm_window`
    seconds: `storm_action` "give-up" or "pause" for `storm_pause`).
    Ends when the policy is satisfied, `stop_when(result)` is true after a
    run, or `stop` (a CancelToken) is triggered, which also stops the current
    run gracefully. Blocks; Ctrl-C stops it the same way and propagates.
    Every other keyword is run()'s (timeout, env, stdout...); the output of
    each run is captured unless stdout/stderr say otherwise."""
    restart_value = U.lookup(_RESTART, restart, "restart policy")
    storm_value = U.lookup(_STORM, storm_action, "storm action")
    opts = N.pk_supervise_options(
        restart=restart_value, max_restarts=int(max_restarts),
        backoff_initial_ms=U.seconds_to_ms(backoff_initial, "backoff_initial", allow_none=False),
        backoff_max_ms=U.seconds_to_ms(backoff_max, "backoff_max", allow_none=False),
        jitter=1 if jitter else 0, backoff_multiplier=float(backoff_multiplier),
        storm_restarts=int(storm_restarts),
        storm_window_ms=U.seconds_to_ms(storm_window, "storm_window", allow_none=False),
        storm_action=storm_value, storm_pause_ms=U.seconds_to_ms(storm_pause, "storm_pause", allow_none=False))
    own = stop is None
    token = CancelToken() if stop is None else stop
    try:
        with _Command(args, **options) as command:
            def result_of(res: Any) -> Optional[Result]:
                return Result._from_handle(res, command.args, timeout=command.timeout) if res else None

            def fail(e: BaseException) -> None:
                # An exception cannot cross C: keep it, stop supervising, re-raise after.
                if command.callback_error is None:
                    command.callback_error = e
                token.trigger()

            def event_thunk(_user: Any, event: int, restarts: int, delay_ms: int, res: Any) -> None:
                if on_event is None or command.callback_error is not None:
                    return
                try:
                    on_event(SupervisionEvent(N.SuperviseEvent(event), restarts, delay_ms / 1000, result_of(res)))
                except BaseException as e:  # noqa: BLE001 - see fail()
                    fail(e)

            def stop_thunk(_user: Any, res: Any) -> int:
                if command.callback_error is not None:
                    return 1
                try:
                    result = result_of(res)
                    return 1 if stop_when is not None and result is not None and stop_when(result) else 0
                except BaseException as e:  # noqa: BLE001 - see fail()
                    fail(e)
                    return 1

            native_event = N.pk_supervise_fn(event_thunk) if on_event is not None else N.pk_supervise_fn()
            native_stop = N.pk_stop_when_fn(stop_thunk) if stop_when is not None else N.pk_stop_when_fn()
            report = N.pk_supervise_report()
            rc, message = _blocking(
                _native_call(lambda: N.pk_supervise(command.handle, ctypes.byref(opts), native_event, native_stop,
                                                    None, token.handle, ctypes.byref(report))),
                token.trigger)
            if command.callback_error is not None:
                raise command.callback_error
            if rc < 0:
                raise error_for(rc, message, program=command.args[0] if command.args else None)
            return SuperviseReport(report.runs, report.restarts, report.storm_pauses,
                                   N.SuperviseEvent(report.stop_reason))
    finally:
        if own:
            token.close()
