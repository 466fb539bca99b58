#!/usr/bin/env python3
"""A program that includes only <mixup.h> compiles against the headers as
`meson install` lays them out: every header the build installs is copied
into an empty include directory (from meson-info/intro-installed.json, the
install plan), and nothing else is on the include path.

    check_installed_headers.py BUILD_ROOT CC [CC ARGS...]
"""
import json
import os
import subprocess
import sys
import tempfile

PROGRAM = r"""
#include <mixup.h>
#include <string.h>

int main(void)
{
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.mode = MIXUP_MODE_SHARDED;
    mixup_dtype d = MIXUP_FLOAT32;
    mixup_aug a = {.mix_kind = MIXUP_KIND_CUTMIX};
    return (strcmp(mixup_strerror(MIXUP_EAUTH), "not authorised") != 0) +
           (d != 1) + (a.mix_kind != 2) + (sizeof a != 96);
}
"""


def main():
    build, cc = sys.argv[1], sys.argv[2:]
    with open(os.path.join(build, "meson-info", "intro-installed.json")) as f:
        plan = json.load(f)
    headers = {src: dst for src, dst in plan.items() if dst.endswith(".h")}
    if not any(os.path.basename(d) == "mixup.h" for d in headers.values()):
        sys.exit("mixup.h is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        inc = os.path.join(tmp, "include")
        os.mkdir(inc)
        for src, dst in headers.items():
            with open(src, "rb") as s, open(os.path.join(inc, os.path.basename(dst)), "wb") as d:
                d.write(s.read())
        prog = os.path.join(tmp, "uses_mixup.c")
        with open(prog, "w") as f:
            f.write(PROGRAM)
        cmd = cc + ["-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                    "-I", inc, prog]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("%s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        print("compiled with the installed headers: %s" %
              ", ".join(sorted(os.path.basename(d) for d in headers.values())))


if __name__ == "__main__":
    main()
