"""posmate's Python bindings against the simulated world, end to end.

Run by `cargo xtask bindings-test` with the generated module on PYTHONPATH. Each check
prints PASS or FAIL; the last line is "N passed, M failed" and the exit code is non-zero
when anything failed.
"""

import asyncio
import os
import shutil
import sys
import tempfile
import threading
import traceback

from posmate_ffi import (
    AcquirerHttpClient,
    AcquirerHttpReply,
    CertificateProblem,
    HttpMethod,
    ActivationInput,
    ActivationOutcome,
    BackupChoice,
    BindInput,
    CardPurpose,
    CardSource,
    CodeEntry,
    CompanionConfig,
    ConnectionListener,
    ConnectionState,
    DecommissionInput,
    DisconnectReason,
    FlowControl,
    FlowStatus,
    HistoryQuery,
    Keystore,
    Lifecycle,
    LinkDirection,
    PosmateCompanion,
    ErrorKind,
    PosmateError,
    ProgressListener,
    ScanListener,
    SimFault,
    SimScreen,
    Simulation,
    SimulationOptions,
    TerminalState,
    uniffi_set_event_loop,
)

PAN = "6222021234567890128"
CNY = 156
PASSPHRASE = "correct horse battery"

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


class ScreenReader(CodeEntry):
    """The merchant reads the code off the simulated terminal's screen."""

    def __init__(self, sim):
        self.sim = sim
        self.asked = []

    async def enter_code(self, sn):
        self.asked.append(sn)
        screen = self.sim.screen(sn)
        if screen.is_PAIRING_CODE():
            return screen.code
        return None


class States(ConnectionListener):
    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()

    def on_state(self, state):
        with self.lock:
            self.seen.append(state)

    def kinds(self):
        names = ("CONNECTING", "CONNECTED", "CONNECT_FAILED", "DISCONNECTED")
        with self.lock:
            return [next(n for n in names if getattr(s, "is_" + n)()) for s in self.seen]

    async def kinds_when(self, done):
        """The kinds seen, once `done` holds of them or after 5 s: states arrive on posmate's threads."""
        for _ in range(250):
            now = self.kinds()
            if done(now):
                return now
            await asyncio.sleep(0.02)
        return self.kinds()


class Progress(ProgressListener):
    def __init__(self, on_first=None):
        self.seen = []
        self.on_first = on_first

    def on_progress(self, progress):
        self.seen.append(progress)
        if self.on_first is not None and len(self.seen) == 1:
            self.on_first()


class Found(ScanListener):
    def __init__(self):
        self.terminals = []
        self.errors = []

    def on_terminal(self, terminal):
        self.terminals.append(terminal)

    def on_error(self, error):
        self.errors.append(error)


def config(root, name):
    return CompanionConfig(
        data_dir=os.path.join(root, name),
        keystore=Keystore.MOCK,
        allow_volatile_key=True,
        reconnect_attempts=2,
        backup_work_factor=10,
    )


def activation_input(sim, i=0):
    t = sim.terminals()[i]
    m = sim.merchant()
    return ActivationInput(
        sn=t.sn,
        terminal_no=t.terminal_no,
        merchant_no=m.merchant_no,
        activation_code=t.activation_code,
        merchant=m.details,
    )


async def paired(root, name, seed):
    sim = Simulation(SimulationOptions(terminals=1, seed=seed))
    phone = await PosmateCompanion.open_simulated(config(root, name), sim)
    t = sim.terminals()[0]
    await phone.pair(t.peripheral_id, ScreenReader(sim))
    return sim, phone, t.sn


async def error_of(awaitable):
    try:
        await awaitable
    except PosmateError.Failed as e:
        return e
    return None


async def lifecycle(root):
    sim = Simulation(SimulationOptions(terminals=2, seed=11))
    phone = await PosmateCompanion.open_simulated(config(root, "life"), sim)
    states = States()
    subscription = phone.subscribe_connection_states(states)

    found = Found()
    scan = phone.scan(found)
    for _ in range(100):
        if len({t.peripheral_id for t in found.terminals}) >= 2:
            break
        await asyncio.sleep(0.02)
    scan.cancel()
    ids = {t.peripheral_id for t in found.terminals}
    check("scan reports both simulated terminals", len(ids) == 2 and not found.errors, f"{found.terminals} {found.errors}")
    check("a cancelled scan handle is finished", scan.is_finished())
    strongest = max(found.terminals, key=lambda t: t.rssi)
    check("scanned terminals are factory-fresh, pairing not locked",
          strongest.lifecycle == Lifecycle.FACTORY and not strongest.pairing_locked, f"{strongest}")

    sn = sim.terminals()[0].sn
    entry = ScreenReader(sim)
    terminal = await phone.pair(strongest.peripheral_id, entry)
    check("pairing with the code from the sim screen", terminal.sn == sn and terminal.state == TerminalState.PAIRED, f"{terminal}")
    check("the code was asked for once, for that terminal", entry.asked == [sn], f"{entry.asked}")
    check("the paired terminal carries its factory public key, in hex",
          len(terminal.device_key) == 64 and int(terminal.device_key, 16) != 0, f"{terminal.device_key}")
    kinds = await states.kinds_when(lambda k: "CONNECTED" in k)
    check("connection states: connecting then connected",
          "CONNECTING" in kinds and "CONNECTED" in kinds and kinds.index("CONNECTING") < kinds.index("CONNECTED"), f"{kinds}")

    progress = Progress()
    outcome = await phone.activate(activation_input(sim), FlowControl(progress))
    check("activation activates with 3 key slots",
          outcome.is_ACTIVATED() and len(outcome.key_slots) == 3, f"{outcome}")
    fractions = [p.fraction for p in progress.seen]
    check("activation progress rises to 1.0",
          len(fractions) >= 3 and fractions == sorted(fractions) and fractions[-1] == 1.0, f"{fractions}")
    info = await phone.info(sn)
    check("the terminal reports itself activated", info.lifecycle == Lifecycle.ACTIVATED and info.key_slots == 3, f"{info}")

    sim.present_card(sn, PAN, "1229")
    card = await phone.bind_card(BindInput(
        merchant_no=sim.merchant().merchant_no,
        purpose=CardPurpose.SETTLEMENT,
        holder_name=sim.merchant().details.legal_name,
        source=CardSource.TERMINAL(sn=sn, timeout_ms=5000),
    ))
    check("card bound from the terminal, masked", card.masked_pan == "622202*********0128", f"{card}")
    check("the phone keeps one card", len(phone.cards(sim.merchant().merchant_no)) == 1)

    amounts = [1000 + k for k in range(5)]
    for a in amounts:
        sale = sim.ring_up_sale(sn, a, CNY, PAN)
        check(f"sale of {a} approved", sale.approved)
    synced = await phone.sync(sn)
    check("sync fetches the 5 records", synced.inserted == 5 and synced.last_seq == 5, f"{synced}")
    again = await phone.sync(sn)
    check("a second sync fetches nothing", again.inserted == 0, f"{again}")

    seqs, page, pages = [], phone.history(HistoryQuery(sn=sn, limit=2)), 1
    seqs += [r.seq for r in page.records]
    while page.next is not None:
        page = phone.history(HistoryQuery(sn=sn, limit=2, after=page.next))
        seqs += [r.seq for r in page.records]
        pages += 1
    check("history pages through every record once", sorted(seqs) == [1, 2, 3, 4, 5] and pages == 3, f"{seqs} {pages}")

    settled = await phone.settle(sn)
    check("settlement matches the terminal's totals",
          settled.matched and settled.terminal.sale_count == 5 and settled.terminal.sale_minor == sum(amounts), f"{settled}")

    backup = os.path.join(root, "life.age")
    done = await phone.decommission(DecommissionInput(
        sn=sn, reason="shop closed", backup=BackupChoice.WRITE(path=backup, passphrase=PASSPHRASE)))
    check("decommission deregisters with the acquirer", done.deregistration_ref.startswith("DRG-"), f"{done}")
    check("decommission backed up the 5 records first", done.backup_records == 5 and os.path.isfile(backup))
    check("the phone forgot the terminal", all(t.sn != sn for t in phone.terminals()))
    check("the terminal is wiped", sim.terminals()[0].lifecycle == Lifecycle.DECOMMISSIONED)
    verified = await phone.backup_verify(backup, PASSPHRASE)
    check("the backup verifies", verified.records == 5, f"{verified}")
    audit = await phone.verify_audit()
    check("the audit chain holds every step", audit.entries >= 6, f"{audit}")
    subscription.cancel()
    await phone.shutdown()


async def cancellation(root):
    sim, phone, sn = await paired(root, "cancel", 12)
    progress = Progress()
    control = FlowControl(progress)
    progress.on_first = control.cancel
    err = await error_of(phone.activate(activation_input(sim), control))
    check("a flow cancelled through its handle fails with code 'cancelled'",
          err is not None and err.code == "cancelled" and not err.retryable, f"{err!r}")
    check("the cancelled flow stopped after its first step", len(progress.seen) == 1, f"{progress.seen}")
    check("nothing reached the acquirer", sim.acquirer_activations(sn) == 0)
    check("the terminal is still only paired", phone.terminal(sn).state == TerminalState.PAIRED)
    check("no flow is left open", phone.open_flows() == [], f"{phone.open_flows()}")

    # Cancelling the asyncio task drops the call: the flow is cancelled at its next step.
    # The flow waits in its first progress callback until the task is cancelled, so the
    # cancel lands between its first and second step.
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    released = threading.Event()

    class Started(ProgressListener):
        def on_progress(self, progress):
            if not started.is_set():
                loop.call_soon_threadsafe(started.set)
                released.wait(10)

    task = asyncio.ensure_future(phone.activate(activation_input(sim), FlowControl(Started())))
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    released.set()
    check("a cancelled task's call is cancelled", task.cancelled())
    for _ in range(100):
        if not phone.open_flows():
            break
        await asyncio.sleep(0.02)
    check("its flow stops without leaving anything open", phone.open_flows() == [], f"{phone.open_flows()}")
    check("still nothing reached the acquirer", sim.acquirer_activations(sn) == 0)

    outcome = await phone.activate(activation_input(sim))
    check("activating again afterwards succeeds", outcome.is_ACTIVATED(), f"{outcome}")
    check("the acquirer saw exactly one application", sim.acquirer_activations(sn) == 1)
    await phone.shutdown()


async def dropped_link(root):
    sim, phone, sn = await paired(root, "drop", 13)
    await phone.activate(activation_input(sim))
    for k in range(4):
        sim.ring_up_sale(sn, 500 + k, CNY, PAN)
    states = States()
    subscription = phone.subscribe_connection_states(states)
    # Every connection from now on is lost after its first packet to the phone.
    await phone.disconnect()
    sim.set_faults(sn, [SimFault.DISCONNECT_AFTER(direction=LinkDirection.TO_PHONE, packet=0)])
    err = await error_of(phone.settle(sn))
    check("settling over a dropping link fails, retryable",
          err is not None and err.retryable and err.user_action != "", f"{err!r}")
    open_flows = [f for f in phone.open_flows() if f.kind == "settlement"]
    check("the settlement is kept open to resume",
          len(open_flows) == 1 and open_flows[0].status in (FlowStatus.PAUSED, FlowStatus.RUNNING), f"{phone.open_flows()}")
    disconnected = [s for s in states.seen if s.is_DISCONNECTED()]
    check("the connection listener saw the link go down", len(disconnected) >= 1, f"{states.kinds()}")
    sim.set_faults(sn, [])
    resumed = await phone.resume(open_flows[0].id) if open_flows else None
    check("resume finishes the settlement, typed",
          resumed is not None and resumed.is_SETTLEMENT() and resumed.outcome.matched
          and resumed.outcome.records == 4, f"{resumed}")
    again = await error_of(phone.resume(open_flows[0].id)) if open_flows else None
    check("resuming the finished flow again is refused, not re-run",
          again is not None and again.code == "flow-finished" and not again.retryable, f"{again!r}")
    page = phone.history(HistoryQuery(sn=sn, limit=100))
    check("every record once, none twice", sorted(r.seq for r in page.records) == [1, 2, 3, 4], f"{[r.seq for r in page.records]}")
    check("no flow is left open", phone.open_flows() == [], f"{phone.open_flows()}")

    # The terminal walks out of range mid-session and comes back. A call racing the loss
    # may fail (retryable); a retry reconnects without a code.
    before = len(states.seen)
    sim.drop_link(sn)
    # The listener hears of it while the session is idle, before any call: wait up to 3 s.
    ended = []
    for _ in range(60):
        with states.lock:
            ended = [s for s in states.seen[before:] if s.is_DISCONNECTED()]
        if ended:
            break
        await asyncio.sleep(0.05)
    check("the connection listener hears of the lost link without a call",
          len(ended) == 1 and ended[0].reason == DisconnectReason.LINK_LOST, f"{states.kinds()[before:]} {ended}")
    err = await error_of(phone.info(sn))
    check("a call racing the lost link fails retryable, if at all", err is None or err.retryable, f"{err!r}")
    info = await phone.info(sn)
    check("after a lost link a retry reconnects without a code", info.sn == sn, f"{info}")
    subscription.cancel()
    await phone.shutdown()


async def error_path(root):
    sim, phone, sn = await paired(root, "errors", 14)
    await phone.activate(activation_input(sim))
    err = await error_of(phone.bind_card(BindInput(
        merchant_no=sim.merchant().merchant_no,
        purpose=CardPurpose.CREDIT,
        holder_name=sim.merchant().details.legal_name,
        source=CardSource.MANUAL(pan="4111111111111112", expiry="0330"),
    )))
    check("a mistyped card number fails with code 'card-number-check-digit'",
          err is not None and err.code == "card-number-check-digit" and not err.retryable and "typo" in err.user_action, f"{err!r}")
    check("nothing was stored", phone.cards(sim.merchant().merchant_no) == [])
    err = await error_of(phone.sync("SN-NOT-PAIRED"))
    check("an unknown terminal fails with code 'unknown-terminal'",
          err is not None and err.code == "unknown-terminal", f"{err!r}")
    check("its kind is the core's: NOT_FOUND", err is not None and err.kind == ErrorKind.NOT_FOUND, f"{err!r}")
    err = await error_of(phone.activate(activation_input(sim)))
    check("activating twice fails with code 'already-activated'",
          err is not None and err.code == "already-activated", f"{err!r}")
    sim.set_acquirer_online(False)
    err = await error_of(phone.dormancy(sn))
    check("the acquirer offline is retryable and needs the internet",
          err is not None and err.retryable and err.needs_internet, f"{err!r}")
    sim.set_acquirer_online(True)
    await phone.shutdown()
    err = await error_of(phone.info(sn))
    check("a closed companion fails with code 'closed'", err is not None and err.code == "closed", f"{err!r}")


class RelayClient(AcquirerHttpClient):
    """An app's own HTTP client as a test writes one: every exchange relayed to the simulated
    acquirer's HTTP face and recorded. `faults` replaces the outcome of the next mutating
    sends: "lost" relays the request and then reports a timeout (the acquirer acted, the
    answer was lost); "unknown-ca" refuses the certificate without relaying."""

    def __init__(self, sim):
        self.sim = sim
        self.sent = []
        self.faults = []

    async def send(self, request):
        self.sent.append(request)
        fault = self.faults.pop(0) if self.faults and request.method != HttpMethod.GET else None
        if fault == "unknown-ca":
            return AcquirerHttpReply.CERTIFICATE_REFUSED(problem=CertificateProblem.UNKNOWN_CA, detail="test CA")
        reply = self.sim.serve_acquirer_http(request)
        if fault == "lost":
            return AcquirerHttpReply.TIMED_OUT(maybe_sent=True)
        return reply


def idempotency_key(request):
    return next((h.value for h in request.headers if h.name == "idempotency-key"), None)


async def own_http_client(root):
    sim = Simulation(SimulationOptions(terminals=1, seed=15))
    client = RelayClient(sim)
    phone = await PosmateCompanion.open_simulated_with_client(config(root, "http"), sim, client)
    t = sim.terminals()[0]
    await phone.pair(t.peripheral_id, ScreenReader(sim))
    before = await phone.info(t.sn)

    client.faults = ["unknown-ca"]
    sent = len(client.sent)
    err = await error_of(phone.activate(activation_input(sim)))
    check("a refused certificate fails with code 'tls' and the unknown-CA fix, not retried",
          err is not None and err.code == "tls" and not err.retryable and "unknown CA" in err.detail
          and len(client.sent) == sent + 1, f"{err!r} {client.sent[sent:]}")
    after = await phone.info(t.sn)
    check("after the refused certificate nothing changed, at the acquirer or the terminal",
          sim.acquirer_activations(t.sn) == 0 and after.lifecycle == before.lifecycle, f"{after}")

    client.faults = ["lost"]
    sent = len(client.sent)
    outcome = await phone.activate(activation_input(sim))
    tail = client.sent[sent:]
    lost, retry = tail[0], tail[1] if len(tail) > 1 else None
    check("an answer lost after the acquirer acted is retried with the same Idempotency-Key",
          retry is not None and idempotency_key(lost) is not None and idempotency_key(retry) == idempotency_key(lost)
          and (retry.method, retry.path) == (lost.method, lost.path), f"{tail}")
    check("the activation completes with exactly one activation at the acquirer",
          outcome.is_ACTIVATED() and sim.acquirer_activations(t.sn) == 1, f"{outcome} {sim.acquirer_activations(t.sn)}")
    mutating = [r for r in client.sent if r.method != HttpMethod.GET]
    check("every mutating request carries an idempotency-key",
          mutating and all(idempotency_key(r) for r in mutating), f"{mutating}")
    await phone.shutdown()


async def main():
    # Async callbacks (the code entry) are called from posmate's threads: UniFFI runs them
    # on this loop.
    uniffi_set_event_loop(asyncio.get_running_loop())
    root = tempfile.mkdtemp(prefix="posmate-py-")
    try:
        for test in (lifecycle, cancellation, dropped_link, error_path, own_http_client):
            try:
                await asyncio.wait_for(test(root), timeout=120)
            except Exception:
                check(f"{test.__name__} ran to the end", False, traceback.format_exc())
    finally:
        shutil.rmtree(root, ignore_errors=True)


asyncio.run(main())
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
