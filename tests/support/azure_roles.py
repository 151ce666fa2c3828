"""Azure built-in role ids that infra/ may assign, as Microsoft publishes them.

Source: the built-in roles list, MicrosoftDocs/azure-docs
``articles/role-based-access-control/built-in-roles.md`` (rendered at
https://learn.microsoft.com/azure/role-based-access-control/built-in-roles), one row
"| name | description | ID |" per role; each id below was checked against that table (and
its category page under ``built-in-roles/``). Built-in role ids are the same in every
tenant and cloud. Add a role here only after checking it there: ``make test`` fails on any
role id in infra/ that is neither in this table nor a custom role defined in infra/.
"""

from __future__ import annotations

BUILT_IN_ROLES_SOURCE = "https://learn.microsoft.com/azure/role-based-access-control/built-in-roles"

# id -> (role name, category page of the built-in roles list)
BUILT_IN_ROLES: dict[str, tuple[str, str]] = {
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": ("Reader", "general"),
    "73c42c96-874c-492b-b04d-ab87d138a893": ("Log Analytics Reader", "monitor"),
    "3913510d-42f4-4e42-8a64-420c390055eb": ("Monitoring Metrics Publisher", "monitor"),
    "d5a91429-5739-47e2-a06b-3470a27159e7": ("EventGrid Data Sender", "integration"),
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": ("Storage Blob Data Owner", "storage"),
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": ("Storage Queue Data Contributor", "storage"),
    "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a": ("Storage Queue Data Message Sender", "storage"),
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": ("Storage Table Data Contributor", "storage"),
}


def role_name(role_id: str) -> str:
    """The published name of a built-in role id (KeyError when it is not one)."""
    return BUILT_IN_ROLES[role_id.lower()][0]
