"""asyncio integration: a pk_loop embedded in an asyncio event loop.

The pk_loop's fd is registered with loop.add_reader(); whenever it polls
readable, pk_loop_run_once(0) handles the events on the asyncio thread (the
one thread that drives the pk_loop), and finished runs resolve their futures.
Any number of commands run concurrently on the one asyncio loop:

    async with AsyncLoop() as pk:
        a, b = await asyncio.gather(pk.run(["sleep", "1"]), pk.run(["sleep", "1"]))

or, with a pk_loop shared per asyncio loop and freed when idle:

    result = await processkit_c.aio.run(["echo", "hi"])
"""
from __future__ import annotations

import asyncio
import weakref
import collections
from typing import TYPE_CHECKING, Any, AsyncIterator, Deque, Dict, Optional

from . import _native as N
from ._util import Args
from .errors import error_for
from .run import Line, Loop, Process, Result

if TYPE_CHECKING:
    from .group import Group

__all__ = ["AsyncLoop", "run", "lines"]


class AsyncLoop:
    """A pk_loop driven by the running asyncio event loop."""

    def __init__(self, *, close_when_idle: bool = False) -> None:
        self._pk = Loop()
        self._aio: Optional[asyncio.AbstractEventLoop] = None
        self._fd: Optional[int] = None
        self._pending: Dict[Process, asyncio.Future[None]] = {}
        self._close_when_idle = close_when_idle

    @property
    def closed(self) -> bool:
        return self._pk.closed

    @property
    def loop(self) -> Loop:
        """The underlying processkit_c.Loop."""
        return self._pk

    def _attach(self) -> asyncio.AbstractEventLoop:
        aio = asyncio.get_running_loop()
        if self._aio is None:
            self._aio = aio
            self._fd = self._pk.fileno()
            aio.add_reader(self._fd, self._on_readable)
        elif self._aio is not aio:
            raise RuntimeError("this AsyncLoop belongs to another asyncio event loop")
        return aio

    def _on_readable(self) -> None:
        if self._pk.closed:
            return
        rc = N.pk_loop_run_once(self._pk.handle, 0)
        if rc < 0:
            err = error_for(rc)
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(err)
            return
        self._resolve()

    def _resolve(self) -> None:
        for proc, fut in list(self._pending.items()):
            if fut.done():
                continue
            error = proc._command.callback_error
            if error is not None:
                proc._command.callback_error = None
                fut.set_exception(error)
            elif proc.done:
                fut.set_result(None)

    def start(self, args: Args, *, group: Optional[Group] = None, **options: Any) -> Process:
        """Start a command (processkit_c.run()'s options) on the pk_loop, in
        `group` or a private group; returns its Process. Await wait(process)."""
        if self._pk.closed:
            raise RuntimeError("AsyncLoop is closed")
        self._attach()
        return self._pk.start(args, group=group, **options)

    async def wait(self, proc: Process) -> Result:
        """Wait (without blocking the asyncio loop) until `proc` is finished;
        return its Result. Cancelling the awaiting task kills the run's tree."""
        fut: asyncio.Future[None] = self._attach().create_future()
        self._pending[proc] = fut
        try:
            self._resolve()  # it may have finished already
            await fut
        except BaseException:
            if not proc._closed and not proc.done:
                proc.cancel()
            raise
        finally:
            self._pending.pop(proc, None)
        return proc.result()

    async def run(self, args: Args, *, check: bool = False, group: Optional[Group] = None,
                  **options: Any) -> Result:
        """processkit_c.run() as a coroutine: the command runs on this loop
        while other coroutines (and other commands) proceed. Cancelling the
        awaiting task kills the command's tree."""
        proc = self.start(args, group=group, **options)
        try:
            result = await self.wait(proc)
        finally:
            proc.close()
            if self._close_when_idle and not self._pending:
                self.close()
        if check:
            result.check()
        return result

    async def lines(self, args: Args, *, check: bool = False, group: Optional[Group] = None,
                    **options: Any) -> AsyncIterator[Line]:
        """Run a command and yield its output Lines as they arrive, without
        blocking the asyncio loop:

            async for line in pk.lines(["make"]):
                print(line.stream, line.text)

        check=True raises the run's error after the last line. Leaving the
        loop early (or cancelling the task) kills the run's tree."""
        if "on_line" in options:
            raise TypeError("lines() delivers the lines itself: on_line is not an option of it")
        pending: Deque[Line] = collections.deque()
        arrived = asyncio.Event()

        def on_line(stream: N.Stream, data: bytes) -> None:  # runs on this asyncio thread
            pending.append(Line(stream, data))
            arrived.set()

        proc = self.start(args, group=group, on_line=on_line, **options)
        waiter = asyncio.ensure_future(self.wait(proc))
        try:
            while True:
                while pending:
                    yield pending.popleft()
                if waiter.done():
                    break
                arrived.clear()
                signal = asyncio.ensure_future(arrived.wait())
                await asyncio.wait({waiter, signal}, return_when=asyncio.FIRST_COMPLETED)
                signal.cancel()
            result = waiter.result()
            if check:
                result.check()
        finally:
            if not waiter.done():
                waiter.cancel()
                try:
                    await waiter
                except BaseException:  # noqa: BLE001 - the run was cancelled on purpose
                    pass
            proc.close()

    def close(self) -> None:
        """Remove the reader, cancel what is still pending and free the pk_loop
        (every run still going is killed and reaped). Idempotent."""
        if self._pk.closed:
            return
        if self._aio is not None and self._fd is not None and not self._aio.is_closed():
            self._aio.remove_reader(self._fd)
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pk.close()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> AsyncLoop:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __enter__(self) -> AsyncLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncLoop] = weakref.WeakKeyDictionary()


async def run(args: Args, *, check: bool = False, **options: Any) -> Result:
    """Run a command without blocking the asyncio loop; returns a Result.
    Concurrent calls on one asyncio loop share one pk_loop, which is freed as
    soon as no run is pending. Same options as processkit_c.run()."""
    aio = asyncio.get_running_loop()
    pk = _shared.get(aio)
    if pk is None or pk.closed:
        pk = AsyncLoop(close_when_idle=True)
        _shared[aio] = pk
    return await pk.run(args, check=check, **options)


async def lines(args: Args, *, check: bool = False, **options: Any) -> AsyncIterator[Line]:
    """AsyncLoop.lines() on a pk_loop of its own: `async for line in aio.lines([...])`."""
    async with AsyncLoop() as pk:
        async for line in pk.lines(args, check=check, **options):
            yield line
