"""`vigil-agent run --pause-signals`: SIGUSR1 detaches the eBPF sensor's programs (the host runs as
without a sensor; what happens meanwhile is not seen), SIGUSR2 attaches them again. Each change is
stored as a host event and shown in the hosts list. What bench/sensor/storm_slowdown.py --toggle
relies on to compare a host with and without the sensor many times a minute. A sensor that cannot
pause (the /proc connector) refuses: the agent logs why and goes on collecting.
"""
import os
import signal
import subprocess
import time
import uuid

from vigil_e2e import Vigil, bpf_links, check, wait_for


with Vigil() as v:
    state, agent = v.start_host("--sensor", "ebpf", "--pause-signals")
    wait_for(lambda: "snapshot of" in v.agent_log(state), 60, "the agent's start-up snapshot")
    attached = bpf_links(agent.pid)
    check(attached >= 3, f"the sensor's programs are attached ({attached} links)")

    def run_marker():
        marker = f"vigil-pause-{uuid.uuid4().hex[:12]}"
        child = subprocess.Popen(["/bin/sh", "-c", f"echo {marker}"], stdout=subprocess.DEVNULL)
        child.wait()
        return marker, child.pid

    def execs(marker):
        return [e for e in v.events("--category", "process", "--since", "5m", "--limit", "20000")
                if e.get("event.action") == "exec" and marker in e.get("process.command_line", "")]

    def host_events(action):
        return [e for e in v.events("--category", "host", "--since", "5m")
                if e.get("event.action") == action]

    before, _ = run_marker()
    wait_for(lambda: execs(before), 5, "the exec before the pause")

    agent.send_signal(signal.SIGUSR1)
    wait_for(lambda: bpf_links(agent.pid) == 0, 5, "the programs to be detached")
    paused = wait_for(lambda: host_events("sensor_paused"), 5, "the sensor_paused event")
    check(paused[0].get("vigil.sensor.kind") == "ebpf", f"the event names the sensor: {paused[0]}")
    wait_for(lambda: v.hosts()[0]["sensor"] == "ebpf (paused)", 15, "the hosts list to show the pause")
    during, _ = run_marker()
    time.sleep(2)  # 4 of the agent's ring reads
    check(not execs(during), "an exec while paused is not seen")

    agent.send_signal(signal.SIGUSR2)
    wait_for(lambda: bpf_links(agent.pid) == attached, 5, "the programs to be attached again")
    wait_for(lambda: host_events("sensor_resumed"), 5, "the sensor_resumed event")
    after, after_pid = run_marker()
    event = wait_for(lambda: execs(after), 5, "the exec after the resume")[0]
    check(event["process.pid"] == after_pid, f"pid {event['process.pid']} == {after_pid}")
    check(event["process.parent.pid"] == os.getpid(),
          f"parent pid {event['process.parent.pid']} == {os.getpid()}")
    check(event.get("process.parent.entity_id"), "the parent's entity id is set")
    wait_for(lambda: v.hosts()[0]["sensor"] == "ebpf", 15, "the hosts list to show the sensor again")
    check(not execs(during), "the paused exec did not turn up later")
    # A second pause and resume work the same (links destroyed and made again).
    agent.send_signal(signal.SIGUSR1)
    wait_for(lambda: bpf_links(agent.pid) == 0, 5, "the programs to be detached again")
    agent.send_signal(signal.SIGUSR2)
    wait_for(lambda: bpf_links(agent.pid) == attached, 5, "the programs to be attached a third time")
    check(agent.poll() is None, "the agent is still running")

# The /proc connector cannot pause: SIGUSR1 is refused with the reason in the log, no pause event
# is stored, the hosts list does not claim a pause, and collection goes on.
with Vigil() as v:
    state, agent = v.start_host("--sensor", "proc", "--pause-signals")
    wait_for(lambda: v.hosts() and v.hosts()[0]["sensor"] == "proc", 30, "the hosts list to show proc")
    agent.send_signal(signal.SIGUSR1)
    refusal = f"from pid {os.getpid()}: proc sensor: cannot pause"
    wait_for(lambda: refusal in v.agent_log(state), 5, "the agent to refuse the pause")
    marker = f"vigil-nopause-{uuid.uuid4().hex[:12]}"
    child = subprocess.Popen(["/bin/sh", "-c", f"echo {marker}; sleep 0.2"], stdout=subprocess.DEVNULL)
    child.wait()
    wait_for(lambda: [e for e in v.events("--category", "process", "--since", "5m", "--limit", "20000")
                      if e.get("event.action") == "exec" and marker in e.get("process.command_line", "")],
             10, "an exec after the refused pause")
    check(not [e for e in v.events("--category", "host", "--since", "5m")
               if e.get("event.action") in ("sensor_paused", "sensor_resumed")],
          "no pause event for a refused pause")
    check(v.hosts()[0]["sensor"] == "proc", f"the hosts list shows {v.hosts()[0]['sensor']!r}")
    check(agent.poll() is None, "the agent is still running")
    print("proc sensor: pause refused with its reason; collection went on")
    print(f"pause/resume: {attached} links detached and attached twice; paused exec unseen")
