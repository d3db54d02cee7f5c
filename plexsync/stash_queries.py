"""Every GraphQL document plexsync sends to Stash, as module constants.

The scene fields live in one fragment so that every scene query returns the same shape
(what ``plexsync.scene_schema.load_scene`` reads). ``ALL_DOCUMENTS`` lists every document;
``tests/test_stash_schema.py`` validates each one against Stash's real schema, and the fake
Stash in ``tests/fakes/stash.py`` executes them, so a field name that Stash does not have fails
a test rather than a user's sync.
"""

from __future__ import annotations

SCENE_FIELDS = """
fragment SceneFields on Scene {
  id
  title
  details
  date
  rating100
  updated_at
  studio { name parent_studio { name } }
  tags { name }
  performers { name }
  files { path }
  paths { screenshot }
}
"""

SCENE_STAMP_FIELDS = """
fragment SceneStamp on Scene {
  id
  updated_at
  files { path }
}
"""

FIND_SCENE = (
    """
query FindScene($id: ID!) {
  findScene(id: $id) { ...SceneFields }
}
"""
    + SCENE_FIELDS
)

# Scenes changed after $since (compared by Stash as strings in its local time: callers poll with
# an overlap window and de-duplicate). Oldest change first, so a caller can advance a watermark.
FIND_SCENES_UPDATED = (
    """
query FindScenesUpdated($since: String!, $page: Int!, $per_page: Int!) {
  findScenes(
    filter: {page: $page, per_page: $per_page, sort: "updated_at", direction: ASC}
    scene_filter: {updated_at: {value: $since, modifier: GREATER_THAN}}
  ) {
    count
    scenes { ...SceneFields }
  }
}
"""
    + SCENE_FIELDS
)

# Every scene, full fields, in id order (full sync).
FIND_SCENES_ALL = (
    """
query FindScenesAll($page: Int!, $per_page: Int!) {
  findScenes(filter: {page: $page, per_page: $per_page, sort: "id", direction: ASC}) {
    count
    scenes { ...SceneFields }
  }
}
"""
    + SCENE_FIELDS
)

# Every scene, only id, updated_at and file paths (reconciliation: cheap to page through).
FIND_SCENES_ALL_LIGHT = (
    """
query FindScenesAllLight($page: Int!, $per_page: Int!) {
  findScenes(filter: {page: $page, per_page: $per_page, sort: "id", direction: ASC}) {
    count
    scenes { ...SceneStamp }
  }
}
"""
    + SCENE_STAMP_FIELDS
)

VERSION = """
query Version {
  version { version }
}
"""

# configuration.plugins is a PluginConfigMap scalar: {"<plugin id>": {"<setting>": value}}.
PLUGIN_SETTINGS = """
query PluginSettings($ids: [ID!]) {
  configuration { plugins(include: $ids) }
}
"""

ALL_DOCUMENTS: dict[str, str] = {
    "FindScene": FIND_SCENE,
    "FindScenesUpdated": FIND_SCENES_UPDATED,
    "FindScenesAll": FIND_SCENES_ALL,
    "FindScenesAllLight": FIND_SCENES_ALL_LIGHT,
    "Version": VERSION,
    "PluginSettings": PLUGIN_SETTINGS,
}
