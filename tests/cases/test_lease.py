"""The case lease: one advancing run per case; a dead holder is taken over at once."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from cases import lease
from cases.errors import CaseBusy, LeaseLost
from cases.intake import open_case
from tests.helpers import sample_signal


def test_a_second_run_is_refused_while_the_first_holds_the_lease(db):
    case_id = open_case(db, sample_signal(), actor="a", lang="zh").case_id
    with lease.leased(db, case_id) as owner:
        with pytest.raises(CaseBusy, match="being advanced by another run"):
            lease.acquire(db, case_id, lease.new_owner())
        lease.renew(db, case_id, owner)
    lease.acquire(db, case_id, lease.new_owner())  # released: free again


def test_the_lease_of_a_dead_process_on_this_host_is_taken_over(db):
    case_id = open_case(db, sample_signal(), actor="a", lang="zh").case_id
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    lease.acquire(db, case_id, f"{socket.gethostname()}:{dead.stdout.strip()}:deadbeef")
    mine = lease.new_owner()
    lease.acquire(db, case_id, mine)
    with pytest.raises(LeaseLost, match="lost its lease to " + mine):
        lease.renew(db, case_id, f"{socket.gethostname()}:{dead.stdout.strip()}:deadbeef")


def test_a_holder_on_another_host_is_respected(db):
    case_id = open_case(db, sample_signal(), actor="a", lang="zh").case_id
    lease.acquire(db, case_id, "elsewhere:1:cafe")
    with pytest.raises(CaseBusy):
        lease.acquire(db, case_id, lease.new_owner())
