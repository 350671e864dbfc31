"""N8n workflow definitions backed up as dated folders (runbook 6 "Workflow Definitions (Weekly)").

`export_workflows` writes every workflow to `<backup URL>/<YYYY-MM-DD>/workflow-<id>.json` plus
a manifest.json (written last: a folder with a manifest is a complete export) and reports what
changed since the previous export. `export_recency` judges the newest complete export (the
quarterly audit's recovery readiness). The backup URL is an ObjectStoragePath URL (file://,
s3://, gs://) from the Variable nurture_ops_workflow_backup_url.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from nurture_ops.integrations.n8n import N8nClient, N8nError

# Fields that change when a workflow is (de)activated or merely re-saved, not when its definition
# changes: left out of the definition hash so a deactivation is reported as such, not as an edit.
VOLATILE_FIELDS = frozenset({"active", "updatedAt", "versionId", "activeVersionId", "triggerCount"})


EXPORT_LABEL = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})(?:-(?P<n>\d+))?$")


SUMMARY_NAMES_MAX = 20


EXPORT_MAX_AGE_DAYS = 8


def export_recency(
    labels: Iterable[str], at: datetime, *, location: str, max_age_days: int = EXPORT_MAX_AGE_DAYS
) -> dict[str, Any]:
    """Judge the newest complete export folder (`YYYY-MM-DD[-n]`, as export_workflows names them).

    labels: names of folders holding a manifest.json (written last, so the export is complete).
    Exports dated after the run's day are ignored (a rerun of a past audit judges that past).
    recent: the last export is at most max_age_days days before the run's day.
    """
    run_day = at.date()
    dated = []
    for label in labels:
        match = EXPORT_LABEL.match(label)
        if match:
            day = date.fromisoformat(match["date"])
            if day <= run_day:
                dated.append((day, int(match["n"] or 1), label))
    result: dict[str, Any] = {
        "location": location,
        "max_age_days": max_age_days,
        "exports": len(dated),
        "last_export": None,
        "age_days": None,
        "recent": False,
    }
    if dated:
        day, _, label = max(dated)
        age = (run_day - day).days
        result.update(last_export=label, age_days=age, recent=age <= max_age_days)
    return result


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace: the same workflow always gives the same bytes (and hash)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def manifest_entry(workflow: dict) -> dict:
    definition = {k: v for k, v in workflow.items() if k not in VOLATILE_FIELDS}
    return {
        "id": str(workflow.get("id")),
        "name": workflow.get("name"),
        "active": bool(workflow.get("active")),
        "updatedAt": workflow.get("updatedAt"),
        "file": _workflow_file_name(workflow.get("id")),
        "sha256": sha256_of(workflow),
        "definition_sha256": sha256_of(definition),
    }


def _workflow_file_name(workflow_id: Any) -> str:
    return f"workflow-{re.sub(r'[^A-Za-z0-9_.-]', '_', str(workflow_id))}.json"


def _label_key(label: str) -> tuple[str, int] | None:
    match = EXPORT_LABEL.match(label)
    if not match:
        return None
    return match["date"], int(match["n"] or 1)


def _existing_exports(root) -> list[tuple[tuple[str, int], Any]]:
    """Dated export folders under root, oldest first, as ((date, n), path)."""
    if not root.exists():
        return []
    found = []
    for child in root.iterdir():
        key = _label_key(child.name)
        if key is not None:
            found.append((key, child))
    return sorted(found, key=lambda item: item[0])


def _claim_folder(root, export_date: date):
    """The first free `<date>`, `<date>-2`, ... folder; never reuses an existing one.

    A second export on the same day goes to `<date>-2` (and so on) rather than overwriting the
    first: the first may be the only copy of a definition that changed in between. On a local
    folder mkdir(exist_ok=False) makes the claim atomic; on object stores (no real folders) an
    existing prefix is skipped and every file is written only if it does not exist yet.
    """
    for n in range(1, 1000):
        label = export_date.isoformat() if n == 1 else f"{export_date.isoformat()}-{n}"
        folder = root / label
        if folder.exists():
            continue
        try:
            folder.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            continue
        return label, folder
    raise N8nError(f"999 exports already exist for {export_date} under {root}; refusing to add more.")


def _write_new(path, text: str) -> None:
    if path.exists():
        raise FileExistsError(f"{path} already exists; exports never overwrite a file")
    try:
        handle = path.open("x", encoding="utf-8")
    except (ValueError, NotImplementedError):  # stores without exclusive create
        handle = path.open("w", encoding="utf-8")
    with handle:
        handle.write(text)


def _names(entries: list[dict]) -> list[str]:
    names = sorted(str(e.get("name") or e.get("id")) for e in entries)
    return names[:SUMMARY_NAMES_MAX]


def diff_manifests(previous: list[dict], current: list[dict]) -> dict[str, list[dict]]:
    """Workflows added, removed, changed (definition differs), deactivated and activated."""
    before = {str(e["id"]): e for e in previous}
    after = {str(e["id"]): e for e in current}
    changed = []
    for wf_id in after.keys() & before.keys():
        old, new = before[wf_id], after[wf_id]
        old_hash = old.get("definition_sha256") or old.get("sha256")
        new_hash = new.get("definition_sha256") if old.get("definition_sha256") else new.get("sha256")
        if old_hash != new_hash:
            changed.append(new)
    return {
        "added": [after[i] for i in after.keys() - before.keys()],
        "removed": [before[i] for i in before.keys() - after.keys()],
        "changed": changed,
        "deactivated": [
            after[i]
            for i in after.keys() & before.keys()
            if before[i].get("active") and not after[i]["active"]
        ],
        "activated": [
            after[i]
            for i in after.keys() & before.keys()
            if not before[i].get("active") and after[i]["active"]
        ],
    }


def export_workflows(
    client: N8nClient,
    destination,
    *,
    export_date: date,
    previous: list[dict] | None = None,
) -> dict:
    """Write every workflow to `<destination>/<YYYY-MM-DD>/workflow-<id>.json` plus manifest.json.

    destination is an ObjectStoragePath or URL: `file:///var/backups/n8n` (local folder),
    `s3://aws_conn_id@bucket/n8n`, `gs://google_cloud_default@bucket/n8n`. The baseline for the
    diff is `previous` (manifest entries) when given, else the most recent earlier export's
    manifest.json found under destination. Returns a small summary (counts and a few names).
    """
    from airflow.sdk import ObjectStoragePath

    root = destination if isinstance(destination, ObjectStoragePath) else ObjectStoragePath(str(destination))
    workflows = client.list_workflows()  # the list endpoint returns full definitions (nodes, ...)
    ids = [str(wf.get("id")) for wf in workflows]
    if len(set(ids)) != len(ids):
        raise N8nError("N8n listed the same workflow id twice; not exporting an inconsistent snapshot.")

    earlier = _existing_exports(root)
    label, folder = _claim_folder(root, export_date)
    new_key = _label_key(label)
    baseline_label = None
    if previous is None:
        for key, path in reversed(earlier):
            if key < new_key and (path / "manifest.json").exists():
                previous = json.loads((path / "manifest.json").read_text())["workflows"]
                baseline_label = path.name
                break
    else:
        baseline_label = "(given)"

    entries = []
    for workflow in sorted(workflows, key=lambda wf: str(wf.get("id"))):
        entry = manifest_entry(workflow)
        _write_new(folder / entry["file"], json.dumps(workflow, indent=2, sort_keys=True, ensure_ascii=False))
        entries.append(entry)
    manifest = {
        "export_date": export_date.isoformat(),
        "label": label,
        "source": client.base_url,
        "previous": baseline_label,
        "workflow_count": len(entries),
        "workflows": entries,
    }
    _write_new(folder / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))  # written last

    summary: dict[str, Any] = {
        "location": str(folder),
        "label": label,
        "workflows": len(entries),
        "active": sum(1 for e in entries if e["active"]),
        "previous": baseline_label,
        "first_export": previous is None,
    }
    # First export: nothing to compare with, so every list is empty (not "everything added").
    for kind, items in diff_manifests(previous or [], entries if previous is not None else []).items():
        summary[f"{kind}_count"] = len(items)
        summary[kind] = _names(items)
    return summary


def complete_export_labels(destination) -> list[str]:
    """Names of the export folders under `destination` that hold a manifest.json (complete)."""
    from airflow.sdk import ObjectStoragePath

    root = destination if isinstance(destination, ObjectStoragePath) else ObjectStoragePath(str(destination))
    if not root.exists():
        return []
    return [p.name for p in root.iterdir() if (p / "manifest.json").exists()]
