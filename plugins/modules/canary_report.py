#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_report
short_description: Write the report of a canary rollout as a self-contained HTML page and a JSON file
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Reads the status of the canary rollout of a target Deployment (the ConfigMap C(<target>-canary-status), as
    M(progressive.delivery.canary_state) does) or takes it from O(status), and writes into O(dest) the files
    C(<target>-canary-report.html) and C(<target>-canary-report.json).
  - The page shows the canary weight over time as a step line with markers for halts, rollbacks and promotions, each
    metric's values against its threshold band, a table of every interval with every number, the phase and the reason of
    a rollback. It is one file - inline CSS and SVG, no script, font, image or link - so it can be attached to a ticket or
    served as a CI artifact. Every text is escaped, and the page's Content-Security-Policy forbids every script.
  - The JSON file holds the same data (the summary of the status, its C(history) and the metric names).
  - The history is the status field C(history), one entry per interval, kept by the rollout role with the filters
    P(progressive.delivery.canary_history_entry#filter) and P(progressive.delivery.canary_history_append#filter).
  - The files hold only what the status holds (no time of generation), so the same status always gives the same bytes.
options:
  dest:
    description:
      - The directory to write the report into; created when missing.
    type: path
    required: true
  status:
    description:
      - The rollout's status, for a playbook that already has it (the RV(progressive.delivery.canary_state#module:status) of
        M(progressive.delivery.canary_state)). The cluster is then not asked.
      - Leave it out to read it from the cluster.
    type: dict
  fail_on_error:
    description:
      - Fail the task when the report cannot be made or written (no status, the cluster cannot be read, the directory cannot
        be written).
      - V(false) makes it a warning and the task succeeds with RV(error) - the rollout role's choice, so that a rollout never
        fails for its report.
    type: bool
    default: true
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.target
attributes:
  check_mode:
    support: full
    details: Builds the report and says which files it would write (RV(written)); writes nothing.
  diff_mode:
    support: partial
    details: The JSON file before and after; the HTML page is drawn from the same data.
  idempotent:
    support: full
    details: A file whose bytes would not change is not written; the same status reports C(changed=false).
requirements:
  - kubernetes >= 24.2.0
  - PyYAML >= 3.11
seealso:
  - module: progressive.delivery.canary_state
"""

EXAMPLES = r"""
- name: Write the report of podinfo's rollout
  progressive.delivery.canary_report:
    target: podinfo
    namespace: test
    dest: /tmp/reports
  register: report

- name: Show where it is
  ansible.builtin.debug:
    msg: "Open {{ report.html }}"

- name: Read the status once, then report it without asking the cluster again
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
  register: rollout_status

- name: Write the report from the status read above
  progressive.delivery.canary_report:
    target: podinfo
    namespace: test
    status: "{{ rollout_status.status }}"
    dest: "{{ playbook_dir }}/reports"
"""

RETURN = r"""
html:
  description: The path of the HTML page.
  returned: always
  type: str
  sample: /tmp/reports/podinfo-canary-report.html
json:
  description: The path of the JSON file.
  returned: always
  type: str
  sample: /tmp/reports/podinfo-canary-report.json
written:
  description: The files written (would be written, in check mode); empty when the report is up to date.
  returned: always
  type: list
  elements: str
entries:
  description: How many intervals the history holds.
  returned: always
  type: int
  sample: 6
msg:
  description: What was written, or that the report is up to date.
  returned: always
  type: str
  sample: wrote /tmp/reports/podinfo-canary-report.html, /tmp/reports/podinfo-canary-report.json
error:
  description: Why the report was not written (also warned), when O(fail_on_error=false).
  returned: when the report could not be made or written
  type: str
diff:
  description: The JSON file before and after.
  returned: when diff mode is on and something changed
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule
from ansible_collections.progressive.delivery.plugins.module_utils.report.run import run_report


def main():
    CanaryModule(dict(
        dest=dict(type="path", required=True),
        status=dict(type="dict"),
        fail_on_error=dict(type="bool", default=True),
    ), service_name=False, fence=False, rehearse=False, name="canary_report").run(run_report)


if __name__ == "__main__":
    main()
