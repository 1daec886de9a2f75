"""A seeded, realistic Intervals account for the simulator, the demo and the tests.

The records use the API's field names with typed values (ints, Decimal, bool, date, datetime), so
that the simulator decides the wire encoding in one place. The data is awkward on purpose: names
with accents, `&`, quotes and a formula-looking client, projects without a client, inactive people
and clients, task time with and without milestones, descriptions with HTML, per-project rates.
The same seed always gives the same account.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

ADMIN_TOKEN = "Adm1nT0ken1"  # noqa: S105 - the simulated account's fake tokens
MANAGER_TOKEN = "Mgr0T0ken22"  # noqa: S105 - the simulated account's fake tokens
RESOURCE_TOKEN = "Res0T0ken33"  # noqa: S105 - the simulated account's fake tokens
EXECUTIVE_TOKEN = "Exe0T0ken44"  # noqa: S105 - the simulated account's fake tokens
INACTIVE_TOKEN = "Ina0T0ken55"  # noqa: S105 - the simulated account's fake tokens

GROUPS: dict[int, str] = {1: "Administrator", 2: "Manager", 3: "Resource", 4: "Executive"}
ADMINISTRATOR, MANAGER, RESOURCE, EXECUTIVE = 1, 2, 3, 4

NO_CLIENT = "No client"
# The seeded agency: a year of 30 people's time (the demo, `timereports simulator`, `--local` runs), and its seed.
AGENCY_YEAR_ENTRIES = 20_000
DEFAULT_SEED = 7

# Ids of each resource live in their own range, so that a client mixing them up fails loudly.
_PERSON_BASE, _CLIENT_BASE, _PROJECT_BASE = 10_000, 20_000, 30_000
_WORKTYPE_BASE, _MODULE_BASE, _PROJECT_WORKTYPE_BASE = 40_000, 50_000, 60_000
_PROJECT_MODULE_BASE, _TASK_BASE, _MILESTONE_BASE = 70_000, 80_000, 90_000
_TIME_BASE = 1_000_000

_PEOPLE = [  # firstname, lastname, group, active
    ("Ada", "Lovelace", ADMINISTRATOR, True),
    ("Grace", "Hopper", MANAGER, True),
    ("Zoë", "Müller", RESOURCE, True),
    ("Ernesto", "Guevara-Núñez", EXECUTIVE, True),
    ("Ina", "Ctive", RESOURCE, False),
    ("Alan", "Turing", ADMINISTRATOR, True),
    ("José", "García", RESOURCE, True),
    ("Françoise", "Dubois", RESOURCE, True),
    ("Seán", "O'Brien", RESOURCE, True),
    ("Ørjan", "Håland", RESOURCE, True),
    ("Margaret", "Hamilton", MANAGER, True),
    ("Linus", "Torvalds", RESOURCE, True),
    ("Barbara", "Liskov", MANAGER, True),
    ("Dennis", "Ritchie", RESOURCE, False),
    ("Ken", "Thompson", RESOURCE, True),
    ("Frances", "Allen", RESOURCE, True),
    ("Edsger", "Dijkstra", RESOURCE, True),
    ("Donald", "Knuth", RESOURCE, True),
    ("Radia", "Perlman", RESOURCE, True),
    ("Tim", "Berners-Lee", RESOURCE, True),
    ("Katherine", "Johnson", RESOURCE, True),
    ("John", "McCarthy", RESOURCE, False),
    ("Hedy", "Lamarr", EXECUTIVE, True),
    ("Guido", "van Rossum", RESOURCE, True),
    ("Anita", "Borg", RESOURCE, True),
    ("Bjarne", "Stroustrup", RESOURCE, True),
    ("Shafi", "Goldwasser", RESOURCE, True),
    ("Niklaus", "Wirth", MANAGER, True),
    ("Joan", "Clarke", RESOURCE, True),
    ("Łukasz", "Żółć", RESOURCE, True),
]
_TOKENS = {ADMIN_TOKEN: 0, MANAGER_TOKEN: 1, RESOURCE_TOKEN: 2, EXECUTIVE_TOKEN: 3, INACTIVE_TOKEN: 4}

_CLIENTS = [  # name, active
    ("Café Crème S.à r.l.", True),
    ("Smith & Sons", True),
    ('The "Quoted" Company', True),
    ("=SUM(A1:A9) Analytics", True),
    ("Mango Inc.", True),
    ("Zürich Versicherungs-AG", True),
    ("Ben & Jerry's <Ice Cream>", True),
    ("-Minus Labs", True),
    ("Ação Logística Ltda", True),
    ("Northwind Traders", False),
    ("Åsa's Bakery", True),
    ("Global Widgets, Ltd.", True),
]
_PROJECT_NAMES = [
    "Website Relaunch",
    "Mobile App",
    "Data Migration",
    "SEO & Content",
    "Support Retainer",
    "Brand Refresh",
    "API Integration",
    "Analytics Dashboard",
    "Security Audit",
    "E-commerce Platform",
    "Intranet",
    "Newsletter",
]
_INTERNAL_PROJECTS = ["Internal: Admin", "Internal: Training", "R&D <Prototype>", "Holidays", "Pre-sales"]
_WORKTYPES = [  # name, default hourly rate, active
    ("Development", Decimal("95.00"), True),
    ("Design", Decimal("85.00"), True),
    ("Project Management", Decimal("110.00"), True),
    ("Consulting", Decimal("150.00"), True),
    ("Testing & QA", Decimal("75.50"), True),
    ("Meetings", Decimal("80.00"), True),
    ("Support", Decimal("65.00"), True),
    ("Travel", Decimal("0.00"), False),
]
_MODULES = ["Planning", "Front-end", "Back-end", "Content", "Deployment", "Maintenance", "Discovery", "Reporting"]
_TASK_TITLES = [
    "Fix login bug",
    "Write specs & estimates",
    'Review "final" mock-ups',
    "Set up CI",
    "Migrate <legacy> data",
    "Customer call",
    "Performance tuning",
    "Accessibility review",
]
_QUARTERS = [Decimal(quarters) / 4 for quarters in range(1, 33)]  # 0.25 h to 8 h
_TASK_STATUSES = {1: "Open", 2: "In progress", 3: "Closed"}
_DESCRIPTIONS = [
    "",
    "",
    "",
    "Daily work",
    "Fixed <b>login</b> bug",
    "<p>Call with client &amp; follow-up</p>",
    'Reviewed "spec" v2',
    "Café meeting with the team",
    "Deploy <script>alert(1)</script> checked",
    "Line one\nLine two",
    "=1+1 looks like a formula",
]


@dataclass
class Dataset:
    """One Intervals account: reference records, time entries and approved timesheets.

    `time` rows carry the full /time/ response field set, plus `milestoneid` (via the task) and
    `approved` (on an approved timesheet), which the simulator uses for filtering only.
    `tokens` maps each API token to its person; `project_members` lists each project's team.
    """

    people: list[dict[str, Any]]
    clients: list[dict[str, Any]]
    projects: list[dict[str, Any]]
    worktypes: list[dict[str, Any]]
    modules: list[dict[str, Any]]
    project_worktypes: list[dict[str, Any]]
    project_modules: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    milestones: list[dict[str, Any]]
    time: list[dict[str, Any]]
    approved_weeks: set[tuple[int, date]]
    tokens: dict[str, int] = field(default_factory=dict)
    project_members: dict[int, set[int]] = field(default_factory=dict)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _weekdays(start: date, end: date) -> list[date]:
    days = []
    day = start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days or [start]


def _build_people() -> list[dict[str, Any]]:
    people = []
    for index, (first, last, group, active) in enumerate(_PEOPLE):
        person_id = _PERSON_BASE + 1 + index
        people.append(
            {
                "id": person_id,
                "localid": index + 1,
                "clientid": None,
                "title": GROUPS[group] if group != RESOURCE else "Consultant",
                "firstname": first,
                "lastname": last,
                "primaryaccount": "t" if index == 0 else "f",
                "notes": "",
                "allprojects": group == ADMINISTRATOR,
                "private": False,
                "tips": False,
                "username": f"{first}.{last}".lower().replace(" ", "").replace("'", ""),
                "email": f"{first.lower()}@example.com",
                "groupid": group,
                "group": GROUPS[group],
                "client": None,
                "active": active,
                "numlogins": 3 + index * 7,
                "lastlogin": datetime(2026, 1, 5, 9, index % 60, 0),
                "timezone": "Europe/Berlin" if index % 3 else "America/New_York",
                "timezone_offset": "(GMT+01:00) Berlin" if index % 3 else "(GMT-05:00) Eastern Time",
            }
        )
    return people


def build_dataset(
    entries: int = AGENCY_YEAR_ENTRIES,
    *,
    seed: int = DEFAULT_SEED,
    start: date = date(2026, 1, 1),
    end: date = date(2026, 12, 31),
) -> Dataset:
    """Build a deterministic account with `entries` time entries on weekdays between `start` and `end`.

    Fast enough for 100,000 entries in about a second, so that benchmarks can use a big account.
    """
    rng = random.Random(seed)
    people = _build_people()
    clients = [
        {
            "id": _CLIENT_BASE + 1 + index,
            "localid": index + 1,
            "name": name,
            "description": "",
            "datecreated": date(2020, 1 + index % 12, 1 + index),
            "website": "",
            "active": active,
        }
        for index, (name, active) in enumerate(_CLIENTS)
    ]
    worktypes: list[dict[str, Any]] = [
        {"id": _WORKTYPE_BASE + 1 + index, "name": name, "defaulthourlyrate": rate, "active": active}
        for index, (name, rate, active) in enumerate(_WORKTYPES)
    ]
    modules = [
        {"id": _MODULE_BASE + 1 + index, "name": name, "description": f"{name} work", "active": True}
        for index, name in enumerate(_MODULES)
    ]
    managers = [p["id"] for p in people if p["groupid"] == MANAGER]

    projects: list[dict[str, Any]] = []
    for index, client in enumerate(clients):
        for number in range(3 if index < 4 else 2 if index < 9 else 1):
            name = _PROJECT_NAMES[(index * 3 + number) % len(_PROJECT_NAMES)]
            projects.append({"clientid": client["id"], "client": client["name"], "name": name})
    for name in _INTERNAL_PROJECTS:
        projects.append({"clientid": None, "client": None, "name": name})
    for index, project in enumerate(projects):
        internal = project["clientid"] is None
        project.update(
            {
                "id": _PROJECT_BASE + 1 + index,
                "localid": index + 1,
                "description": "",
                "datestart": date(2025, 1 + index % 12, 1),
                "dateend": None if index % 4 else date(2027, 6, 30),
                "billable": not internal,
                "active": index % 9 != 8,
                "managerid": managers[index % len(managers)],
            }
        )

    project_members: dict[int, set[int]] = {}
    workers = [p["id"] for p in people if p["groupid"] != EXECUTIVE]
    for index, project in enumerate(projects):
        team = set(rng.sample(workers, 6)) | {project["managerid"]}
        project_members[project["id"]] = team
        if index % 3 == 0:
            team.add(people[2]["id"])  # the Resource token's user works on a third of the projects
        if index % 2 == 0:
            team.add(people[1]["id"])  # the Manager token's user on half of them
    executive_client = clients[1]["id"]
    for project in projects:
        if project["clientid"] == executive_client:
            project_members[project["id"]].add(people[3]["id"])
    people[3]["clientid"] = executive_client
    people[3]["client"] = clients[1]["name"]

    project_worktypes: list[dict[str, Any]] = []
    project_modules: list[dict[str, Any]] = []
    for project in projects:
        for worktype in rng.sample(worktypes[:7], 4):
            rate: Decimal = worktype["defaulthourlyrate"]
            if rng.random() < 0.4:  # a per-project rate, different from the default
                rate = rate + Decimal(rng.choice([-10, -5, 5, 10, 12.5])).quantize(Decimal("0.01"))
            if not project["billable"]:
                rate = Decimal("0.00")
            project_worktypes.append(
                {
                    "id": _PROJECT_WORKTYPE_BASE + 1 + len(project_worktypes),
                    "projectid": project["id"],
                    "worktypeid": worktype["id"],
                    "worktype": worktype["name"],
                    "hourlyrate": rate,
                    "esttime": Decimal(rng.randrange(0, 200)),
                    "active": True,
                }
            )
        for module in rng.sample(modules, 3):
            project_modules.append(
                {
                    "id": _PROJECT_MODULE_BASE + 1 + len(project_modules),
                    "projectid": project["id"],
                    "moduleid": module["id"],
                    "module": module["name"],
                    "description": module["description"],
                    "active": True,
                }
            )

    milestones: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    modules_of: dict[int, list[int]] = {}
    for row in project_modules:
        modules_of.setdefault(row["projectid"], []).append(row["moduleid"])
    module_names = {m["id"]: m["name"] for m in modules}
    for index, project in enumerate(projects):
        if index % 2 == 0:
            for number in range(2):
                milestones.append(
                    {
                        "id": _MILESTONE_BASE + 1 + len(milestones),
                        "localid": number + 1,
                        "title": f"Phase {number + 1} & sign-off",
                        "projectid": project["id"],
                        "project": project["name"],
                        "clientid": project["clientid"],
                        "client": project["client"],
                        "due": date(2026, 3 + number * 6, 28),
                        "complete": number == 0,
                    }
                )
        own_milestones = [m["id"] for m in milestones if m["projectid"] == project["id"]]
        for number in range(3):
            status_id = rng.choice(list(_TASK_STATUSES))
            module_id = rng.choice(modules_of[project["id"]])
            milestone_id = own_milestones[number % len(own_milestones)] if own_milestones and number < 2 else None
            tasks.append(
                {
                    "id": _TASK_BASE + 1 + len(tasks),
                    "localid": 100 + index * 10 + number,
                    "title": _TASK_TITLES[(index + number) % len(_TASK_TITLES)],
                    "projectid": project["id"],
                    "project": project["name"],
                    "clientid": project["clientid"],
                    "client": project["client"],
                    "moduleid": module_id,
                    "module": module_names[module_id],
                    "milestoneid": milestone_id,
                    "statusid": status_id,
                    "status": _TASK_STATUSES[status_id],
                    "assigneeid": ",".join(str(p) for p in sorted(project_members[project["id"]])[:2]),
                    "datemodified": datetime(2026, 1, 2, 12, 0, 0),
                }
            )

    days = _weekdays(start, end)
    approved_weeks = {
        (person["id"], monday)
        for person in people
        for monday in sorted({_monday(day) for day in days})
        if rng.random() < 0.6
    }
    dataset = Dataset(
        people=people,
        clients=clients,
        projects=projects,
        worktypes=worktypes,
        modules=modules,
        project_worktypes=project_worktypes,
        project_modules=project_modules,
        tasks=tasks,
        milestones=milestones,
        time=[],
        approved_weeks=approved_weeks,
        tokens={token: people[index]["id"] for token, index in _TOKENS.items()},
        project_members=project_members,
    )
    dataset.time = _build_time(dataset, entries, rng, days)
    return dataset


def _build_time(dataset: Dataset, count: int, rng: random.Random, days: list[date]) -> list[dict[str, Any]]:
    builder = TimeEntryBuilder(dataset)
    workers_of = {
        project_id: sorted(p for p in members if builder.people[p]["groupid"] != EXECUTIVE)
        for project_id, members in dataset.project_members.items()
    }
    tasks_of: dict[int, list[dict[str, Any]]] = {}
    for row in dataset.tasks:
        tasks_of.setdefault(row["projectid"], []).append(row)
    # Busy projects get more time, as in a real account.
    projects = dataset.projects
    cum_weights = list(itertools.accumulate(1 + (index * 7) % 5 for index in range(len(projects))))
    total_weight = cum_weights[-1]
    draw = rng.random  # random() and int() are several times faster than choice()/randint() at 100k rows

    def pick(items: list[Any]) -> Any:
        return items[int(draw() * len(items))]

    drafts = []
    for _ in range(count):
        project = projects[bisect.bisect(cum_weights, draw() * total_weight)]
        project_id = project["id"]
        task = pick(tasks_of[project_id]) if draw() < 0.35 else None
        day = pick(days)
        edited = draw() < 0.1
        drafts.append(
            (
                day,
                {
                    "personid": pick(workers_of[project_id]),
                    "projectid": project_id,
                    "taskid": task["id"] if task else None,
                    "moduleid": task["moduleid"] if task else pick(builder.modules_of[project_id]),
                    "worktypeid": pick(builder.worktypes_of[project_id]),
                    "date": day,
                    "time": _QUARTERS[int(draw() * 32)],
                    "billable": project["billable"] and draw() < 0.9,
                    "description": pick(_DESCRIPTIONS),
                    "datemodified": datetime.combine(
                        day + timedelta(days=1 + int(draw() * 20) if edited else 0),
                        time(16 + int(draw() * 4), int(draw() * 60), int(draw() * 60)),
                    ),
                },
            )
        )
    # Ids grow with the date, mostly, as entries are logged day by day.
    drafts.sort(key=lambda draft: (draft[0], draft[1]["personid"]))
    return [builder.build(_TIME_BASE + 1 + index, **fields) for index, (_, fields) in enumerate(drafts)]


class TimeEntryBuilder:
    """Turns the settable fields of a time entry into the full /time/ row (names, client, rate).

    Shared by the data set and the simulator's writes, so that an entry added through the API
    looks exactly like a seeded one.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.people = {p["id"]: p for p in dataset.people}
        self.projects = {p["id"]: p for p in dataset.projects}
        self.clients = {c["id"]: c for c in dataset.clients}
        self.worktypes = {w["id"]: w for w in dataset.worktypes}
        self.modules = {m["id"]: m for m in dataset.modules}
        self.tasks = {t["id"]: t for t in dataset.tasks}
        self.rates = {(pw["projectid"], pw["worktypeid"]): pw["hourlyrate"] for pw in dataset.project_worktypes}
        self.worktypes_of: dict[int, list[int]] = {}
        for pw in dataset.project_worktypes:
            self.worktypes_of.setdefault(pw["projectid"], []).append(pw["worktypeid"])
        self.modules_of: dict[int, list[int]] = {}
        for pm in dataset.project_modules:
            self.modules_of.setdefault(pm["projectid"], []).append(pm["moduleid"])
        self._derived: dict[tuple[int, int, int | None, int, int], dict[str, Any]] = {}
        self._mondays: dict[date, date] = {}

    def build(
        self,
        entry_id: int,
        *,
        personid: int,
        worktypeid: int,
        date: date,
        time: Decimal,
        projectid: int | None = None,
        moduleid: int | None = None,
        taskid: int | None = None,
        billable: bool = True,
        description: str = "",
        datemodified: datetime | None = None,
    ) -> dict[str, Any]:
        """The full row; task time takes its project and module from the task. Raises KeyError for unknown ids."""
        task = self.tasks[taskid] if taskid is not None else None
        if task is not None:
            projectid, moduleid = task["projectid"], task["moduleid"]
        if projectid is None or moduleid is None:
            raise KeyError("projectid and moduleid are required for general time")
        key = (projectid, moduleid, taskid, worktypeid, personid)
        derived = self._derived.get(key)
        if derived is None:
            derived = self._derive(projectid, moduleid, task, worktypeid, personid)
            self._derived[key] = derived
        monday = self._mondays.get(date)
        if monday is None:
            monday = self._mondays[date] = _monday(date)
        return {
            "id": entry_id,
            "date": date,
            "time": time,
            "description": description,
            "billable": billable,
            "datemodified": datemodified or datetime.combine(date, datetime.min.time()),
            "dateiso": date,
            **derived,
            "approved": (personid, monday) in self.dataset.approved_weeks,
        }

    def _derive(
        self, projectid: int, moduleid: int, task: dict[str, Any] | None, worktypeid: int, personid: int
    ) -> dict[str, Any]:
        """The fields that follow from the ids alone (names, client, rate): cached, as 100,000 rows share few."""
        project = self.projects[projectid]
        person = self.people[personid]
        worktype = self.worktypes[worktypeid]
        module = self.modules[moduleid]
        client = self.clients.get(project["clientid"]) if project["clientid"] is not None else None
        return {
            "projectid": projectid,
            "moduleid": moduleid,
            "taskid": task["id"] if task else None,
            "worktypeid": worktypeid,
            "personid": personid,
            "module": module["name"],
            "project": project["name"],
            "worktype": worktype["name"],
            "tasklocalid": task["localid"] if task else None,
            "task": task["title"] if task else "",
            "firstname": person["firstname"],
            "lastname": person["lastname"],
            "active": person["active"],
            "person": f"{person['firstname']} {person['lastname']}",
            "clientid": client["id"] if client else None,
            "client": client["name"] if client else NO_CLIENT,
            "clientactive": client["active"] if client else True,
            "statusid": task["statusid"] if task else None,
            "hourlyrate": self.rates.get((projectid, worktypeid), worktype["defaulthourlyrate"]),
            "milestoneid": task["milestoneid"] if task else None,
        }
