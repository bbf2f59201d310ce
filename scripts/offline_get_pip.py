"""Stand-in for the get-pip bootstrap script that ansible-test downloads from its CI host.

ansible-test runs this (through its quiet_pip wrapper) inside each fresh sanity virtual
environment. This machine cannot reach that host, so pip is bootstrapped from the copy that
ships with CPython (ensurepip) and then upgraded to what ansible-test asked for, from the
package index configured on the machine.
"""

import ensurepip
import os
import subprocess
import sys


def main():
    requested = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    ensurepip.bootstrap(upgrade=True)
    # ensurepip points pip at /dev/null for its config, which would hide the machine's index
    # and CA bundle from every later install.
    os.environ.pop("PIP_CONFIG_FILE", None)
    os.environ.pop("ENSUREPIP_OPTIONS", None)
    if requested:
        subprocess.check_call([sys.executable, "-m", "pip", "install"] + requested)


main()
