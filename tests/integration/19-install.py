"""cmake --install: what a host gets besides the binaries, checked as its users
meet it: the man pages as `man` renders them, the bash completion as bash
loads and runs it (against a real coordinator for the names), the systemd units
as systemd-analyze reads them, and the example configuration as the daemons
check it.  The man pages and the example are also held to the code: every
option of every --help and every key of the configuration schema is in them."""

import os
import re
import shlex
import subprocess

from harness import BIN, SOURCE, check, check_eq, free_port, main, run, sanitizer_env

BUILD = os.path.dirname(BIN)
PAGES = {"maoctl": "share/man/man1/maoctl.1",
         "mao.conf": "share/man/man5/mao.conf.5",
         "mao-coordinator": "share/man/man8/mao-coordinator.8",
         "mao-worker": "share/man/man8/mao-worker.8"}
COMPLETION = "share/bash-completion/completions/maoctl"
EXAMPLE = "share/doc/mao/mao.conf.example"
UNITS = ("lib/systemd/system/mao-coordinator.service", "lib/systemd/system/mao-worker.service")
SYSUSERS = "lib/sysusers.d/mao.conf"
TOOL_VERBS = ["get", "add", "remove", "run", "schedule", "history"]


def install(env):
    """Installs the build into a new prefix in the test's folder; returns it."""
    prefix = os.path.join(env.dir, "prefix")
    run(["cmake", "--install", BUILD, "--prefix", prefix])
    return prefix


def tool_env(extra=None):
    environ = dict(os.environ)
    environ.update(sanitizer_env())
    environ.pop("MAO_CONFIG", None)
    environ.update(extra or {})
    return environ


def render(path):
    """A man page as `man` shows it on an 80-column terminal; fails on any
    warning from man or groff."""
    environ = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    p = subprocess.run(["man", "-l", "--warnings", path], capture_output=True, text=True,
                       env=environ)
    check(p.returncode == 0 and p.stderr == "", f"man -l {path} should render without warnings",
          p.returncode, p.stderr)
    p2 = subprocess.run(["groff", "-man", "-ww", "-z", "-rLL=80n", "-Tutf8", path],
                        capture_output=True, text=True)
    check(p2.returncode == 0 and p2.stderr == "", f"groff -ww should not warn on {path}",
          p2.stderr)
    # Plain text: no overstriking, typographic dashes as ASCII.
    text = re.sub(".\b", "", p.stdout)
    return text.replace("\u2010", "-").replace("\u2212", "-")


def schema():
    """(section, key, default) for every key of the configuration, from the
    table common/mao_cfg.c reads, in order."""
    with open(os.path.join(SOURCE, "common", "mao_cfg.c")) as f:
        source = f.read()
    table = source[source.index("s_schema[] = {"):]
    table = table[:table.index("};")]
    entries = re.findall(r'\{"([A-Z_]+)", "([a-z_]+)", "([^"]*)"\}', table)
    check(len(entries) > 30, "the schema table of common/mao_cfg.c should be readable", entries)
    return entries


def complete(prefix, words, extra_env=None, loader=False):
    """What bash offers for the command line `words` (the last word is the one
    being completed), with the installed completion: sourced, or found by the
    bash-completion package's loader.  Returns (offers, stdout, stderr)."""
    script = os.path.join(prefix, COMPLETION)
    if loader:
        load = ("source /usr/share/bash-completion/bash_completion\n"
                "__load_completion maoctl || exit 3\n")
    else:
        load = f"source {shlex.quote(script)}\n"
    # As bash hands them over: COMP_WORDS split at ':' and '=' too.
    line = " ".join(words)
    split = [t for w in words for t in (re.split(r"([:=]+)", w) if w else [""]) if t != ""]
    if words[-1] == "":
        split.append("")
    body = load + (
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in split)})\n"
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
        f"COMP_LINE={shlex.quote(line)}\n"
        "COMP_POINT=${#COMP_LINE}\n"
        'spec=$(complete -p maoctl) || exit 4\n'
        'func=${spec#*-F }; func=${func%% *}\n'
        '"$func" maoctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" '
        '>"$CAPTURE" 2>&1\n'
        'cat "$CAPTURE" >&2\n'
        'for w in "${COMPREPLY[@]}"; do printf "<%s>\\n" "$w"; done\n')
    environ = tool_env(extra_env)
    environ["PATH"] = os.path.join(prefix, "bin") + ":" + environ.get("PATH", "/usr/bin:/bin")
    environ["XDG_DATA_DIRS"] = os.path.join(prefix, "share")
    environ["HOME"] = os.path.dirname(prefix)
    environ["CAPTURE"] = os.path.join(os.path.dirname(prefix), "completion-output")
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", body], capture_output=True,
                       text=True, env=environ, timeout=60)
    check(p.returncode == 0, "completing should work", words, p.returncode, p.stdout, p.stderr)
    offers = [l[1:-1] for l in p.stdout.splitlines() if l.startswith("<") and l.endswith(">")]
    return offers, p.stdout, p.stderr.strip()


def test_install_puts_every_file_in_place(env):
    prefix = install(env)
    for rel in ("bin/mao-coordinator", "bin/mao-worker", "bin/maoctl"):
        path = os.path.join(prefix, rel)
        check(os.path.isfile(path) and os.access(path, os.X_OK), f"{rel} should be installed")
    for rel in list(PAGES.values()) + [COMPLETION, EXAMPLE, SYSUSERS, *UNITS]:
        check(os.path.isfile(os.path.join(prefix, rel)), f"{rel} should be installed")
    with open(os.path.join(prefix, SYSUSERS)) as f:
        check(re.search(r"^u mao ", f.read(), re.M), "sysusers.d makes the user mao")


def test_man_pages_render_and_hold_every_option(env):
    prefix = install(env)
    sections = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "FILES",
                "EXIT STATUS", "EXAMPLES", "SEE ALSO"]
    texts = {}
    for name, rel in PAGES.items():
        text = render(os.path.join(prefix, rel))
        texts[name] = text
        headings = [l for l in text.splitlines() if re.fullmatch(r"[A-Z][A-Z ]+", l)]
        for s in sections:
            check(s in headings, f"{name}: the section {s} should be there", headings)
        check(re.search(rf"^       {re.escape(name)} - ", text, re.M),
              f"{name}: NAME should say what it is", text[:400])
        for var in ("MAO_CONFIG", "/etc/mao/mao.conf", "/var/lib/mao/"):
            check(var in text, f"{name} should mention {var}")

    # Every option that maoctl and each verb's --help name is in maoctl(1).
    ctl = os.path.join(prefix, "bin", "maoctl")
    helps = [[], ["tool"], ["tool", "get"], ["tool", "add"], ["tool", "remove"],
             ["tool", "run"], ["tool", "schedule"], ["tool", "history"], ["dataset"],
             ["dataset", "get"], ["dataset", "add"], ["dataset", "remove"],
             ["dataset", "clone"], ["run"], ["run", "get"], ["run", "list"], ["run", "logs"],
             ["schedule"], ["why"], ["worker"], ["watch"], ["spike"]]
    for words in helps:
        out = run([ctl] + words + ["--help"], env=tool_env()).stdout
        for opt in set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", out)):
            check(opt in texts["maoctl"],
                  f"maoctl(1) should describe {opt} of 'maoctl {' '.join(words)}'")
        if words and len(words) == 1:
            verbs = re.findall(r"^  ([a-z]+) ", out.split("Verbs:")[1], re.M) \
                if "Verbs:" in out else []
            for verb in verbs:
                check(f"maoctl {words[0]} {verb}" in texts["maoctl"],
                      f"maoctl(1) should describe 'maoctl {words[0]} {verb}'")
    for command in re.findall(r"^  ([a-z]+) ", run([ctl, "--help"], env=tool_env()).stdout.split(
            "Commands:")[1].split("\n\n")[0], re.M):
        check(f"maoctl {command}" in texts["maoctl"], f"maoctl(1) should describe {command}")

    for daemon in ("mao-coordinator", "mao-worker"):
        out = run([os.path.join(prefix, "bin", daemon), "--help"], env=tool_env()).stdout
        for opt in set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", out)):
            check(opt in texts[daemon], f"{daemon}(8) should describe {opt}")


def test_mao_conf_page_and_example_hold_every_key_and_default(env):
    prefix = install(env)
    keys = schema()
    text = render(os.path.join(prefix, PAGES["mao.conf"]))
    # The page, section by section: "key = default" (or "key =") under [SECTION].
    blocks = re.split(r"^   \[([A-Z_]+)\]$", text, flags=re.M)
    pages = {blocks[i]: blocks[i + 1] for i in range(1, len(blocks) - 1, 2)}
    for section, key, default in keys:
        check(section in pages, f"mao.conf(5) should have a section [{section}]", list(pages))
        want = f"{key} = {default}".rstrip()
        check(re.search(rf"^       {re.escape(want)}$", pages[section], re.M),
              f"mao.conf(5) should show '{want}' under [{section}]")

    # The example: every key once, commented out, with its default, in its section.
    seen = []
    section = None
    with open(os.path.join(prefix, EXAMPLE)) as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.fullmatch(r"\[([A-Z_]+)\]", line)
            if m:
                section = m.group(1)
                continue
            m = re.fullmatch(r";([a-z_]+) =(?: (.*))?", line)
            if m:
                seen.append((section, m.group(1), m.group(2) or ""))
                continue
            check(line == "" or line.startswith("; ") or line == ";",
                  "the example holds sections, commented keys and '; ' comments only", line)
    missing = sorted(set(keys) - set(seen))
    extra = sorted(set(seen) - set(keys))
    check(not missing and not extra and len(seen) == len(set(seen)),
          "the example should hold each key of common/mao_cfg.c once, with its default "
          "(packaging/mao.conf.example)", f"missing or wrong: {missing}", f"not in the code: {extra}")


def test_example_config_passes_the_daemons_check(env):
    prefix = install(env)
    example = os.path.join(prefix, EXAMPLE)
    # All keys set, each to its default: every one must be known.
    active = os.path.join(env.dir, "active.conf")
    with open(example) as src, open(active, "w") as dst:
        dst.write(re.sub(r"^;([a-z_]+ =)", r"\1", src.read(), flags=re.M))
    typo = os.path.join(env.dir, "typo.conf")
    with open(active) as src, open(typo, "w") as dst:
        dst.write(src.read().replace("[ETCD]\n", "[ETCD]\nhots = 10.0.0.1\n"))
    for daemon in ("mao-coordinator", "mao-worker"):
        exe = os.path.join(prefix, "bin", daemon)
        for path in (example, active):
            p = subprocess.run([exe, "--check-config", "-c", path], capture_output=True,
                               text=True, env=tool_env())
            check(p.returncode == 0 and p.stdout == f"{path}: ok\n" and p.stderr == "",
                  f"{daemon} --check-config should accept {os.path.basename(path)}",
                  p.returncode, p.stdout, p.stderr)
        p = subprocess.run([exe, "--check-config", "-c", typo], capture_output=True, text=True,
                           env=tool_env())
        check(p.returncode == 1 and "unknown key 'hots' in section [ETCD]" in p.stderr
              and p.stdout == f"{typo}: has unknown keys\n",
              f"{daemon} --check-config should refuse a typo", p.returncode, p.stdout, p.stderr)


def test_units_name_the_installed_binaries_and_verify(env):
    prefix = install(env)
    for rel in UNITS:
        with open(os.path.join(prefix, rel)) as f:
            unit = f.read()
        daemon = os.path.basename(rel).replace(".service", "")
        check_eq(re.findall(r"^ExecStart=(.*)$", unit, re.M),
                 [f"{prefix}/bin/{daemon} -c /etc/mao/mao.conf"], f"{rel}: ExecStart")
        for line in ("User=mao", "StateDirectory=mao", "ReadWritePaths=/var/lib/mao",
                     "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                     "Restart=on-failure", "Type=simple"):
            check(re.search(rf"^{re.escape(line)}$", unit, re.M), f"{rel} should say {line}")
    with open(os.path.join(prefix, UNITS[1])) as f:
        worker = f.read()
    for line in ("SupplementaryGroups=docker", "After=network-online.target docker.service"):
        check(re.search(rf"^{re.escape(line)}$", worker, re.M), f"the worker's unit: {line}")
    # systemd reads them as it would on a host: the binary is there and
    # executable, every setting is known, the Documentation= pages exist.
    environ = dict(os.environ, MANPATH=os.path.join(prefix, "share", "man") + ":")
    p = subprocess.run(["systemd-analyze", "verify"] + [os.path.join(prefix, u) for u in UNITS],
                       capture_output=True, text=True, env=environ)
    check(p.returncode == 0 and p.stdout + p.stderr == "", "systemd-analyze verify",
          p.returncode, p.stdout, p.stderr)


def test_completion_of_commands_verbs_and_options(env):
    prefix = install(env)
    run(["bash", "-n", os.path.join(prefix, COMPLETION)])
    nowhere = {"MAO_SERVER": f"http://127.0.0.1:{free_port()}"}
    for loader in (False, True):
        offers, _, _ = complete(prefix, ["maoctl", "to"], nowhere, loader=loader)
        check_eq(offers, ["tool"], f"maoctl to<TAB> (loader={loader})")
        offers, _, _ = complete(prefix, ["maoctl", "tool", ""], nowhere, loader=loader)
        check_eq(offers, TOOL_VERBS, f"maoctl tool <TAB> (loader={loader})")
    cases = [
        (["maoctl", "-o", "json", "tool", ""], TOOL_VERBS),
        (["maoctl", "dataset", ""], ["get", "add", "remove", "clone"]),
        (["maoctl", "schedule", "p"], ["pause", "preview"]),
        (["maoctl", "tool", "schedule", "demo", ""], ["daily", "weekly"]),
        (["maoctl", "tool", "schedule", "demo", "--ov"], ["--overlap"]),
        (["maoctl", "tool", "run", "demo", "--"],
         ["--server", "--output", "--config", "--help", "--site", "--no-wait"]),
        (["maoctl", "run", "list", "--status", "t"], ["timed_out"]),
        (["maoctl", "--output", ""], ["table", "json"]),
        (["maoctl", "spike", "--m"], ["--method"]),
    ]
    for words, want in cases:
        offers, _, err = complete(prefix, words, nowhere)
        check_eq(offers, want, " ".join(words) + "<TAB>")


def test_completion_asks_the_coordinator_for_names(env):
    prefix = install(env)
    etcd = env.etcd()
    env.start_coordinator(etcd)
    env.tool("demo-tool", "mao-demo:latest")
    env.tool("dice", "mao-demo:latest")
    r = env.maoctl("dataset", "add", "census", "https://example.org/census.git")
    check(r.rc == 0, "registering a dataset", r)
    r = env.maoctl("-o", "json", "tool", "schedule", "demo-tool", "daily")
    check(r.rc == 0, "scheduling a tool", r)
    schedule = r.json()["id"]
    here = {"MAO_SERVER": env.coordinator.url}

    offers, _, err = complete(prefix, ["maoctl", "tool", "run", "d"], here)
    check_eq(offers, ["demo-tool", "dice"], "maoctl tool run d<TAB>")
    check_eq(err, "", "completion prints nothing")
    offers, _, _ = complete(prefix, ["maoctl", "why", "de"], here)
    check_eq(offers, ["demo-tool"], "maoctl why de<TAB>")
    offers, _, _ = complete(prefix, ["maoctl", "dataset", "clone", ""], here)
    check_eq(offers, ["census"], "maoctl dataset clone <TAB>")
    offers, _, _ = complete(prefix, ["maoctl", "schedule", "pause", ""], here)
    check_eq(offers, [schedule], "maoctl schedule pause <TAB>")
    offers, _, _ = complete(prefix, ["maoctl", "run", "list", "--tool", "di"], here)
    check_eq(offers, ["dice"], "maoctl run list --tool di<TAB>")
    # --server on the line wins over MAO_SERVER, as for maoctl itself.
    nowhere = {"MAO_SERVER": f"http://127.0.0.1:{free_port()}"}
    for loader in (False, True):
        for server in (["--server", env.coordinator.url], ["--server=" + env.coordinator.url]):
            offers, _, _ = complete(prefix, ["maoctl"] + server + ["tool", "get", "demo"],
                                    nowhere, loader=loader)
            check_eq(offers, ["demo-tool"],
                     f"maoctl {' '.join(server)} tool get demo<TAB> (loader={loader})")
    # No coordinator: nothing offered, nothing printed.
    offers, out, err = complete(prefix, ["maoctl", "tool", "run", ""], nowhere)
    check_eq((offers, out, err), ([], "", ""), "completion without a coordinator")
    env.coordinator.stop_clean()


main(globals())
