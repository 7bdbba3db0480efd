"""``/api/docs/``: the gateway's OpenAPI 3.1 document, its bodies generated from the pydantic models that parse them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from jobruntime.web.bodies import API_VERSION
from jobruntime.web.schemas import JobHookBody, JobPatchBody, JobRunBody

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_PAGE = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}},
         {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}]


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}


def _answers(success: int, description: str, *errors: int) -> dict[str, Any]:
    answers: dict[str, Any] = {str(success): {"description": description}}
    meanings = {400: "Invalid input, with Nautobot's error body", 403: "No credentials, or not permitted",
                404: "Not found, or not visible to this user", 405: "The job is not installed",
                503: "No worker consumes the job's queue", 501: "Not available in this version"}
    answers.update({str(code): {"description": meanings[code]} for code in errors})
    return answers


def spec() -> dict[str, Any]:
    models = (JobRunBody, JobPatchBody, JobHookBody)
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "jobruntime", "version": API_VERSION,
                 "description": "Nautobot 1.x's REST API for jobs and job results. Authenticate with "
                                "`Authorization: Token <key>` (`jobruntime users token`)."},
        "components": {"schemas": schemas,
                       "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization"}}},
        "security": [{"token": []}],
        "paths": {
            "/api/extras/jobs/": {"get": {"summary": "List jobs", "parameters": _PAGE + [
                {"name": name, "in": "query", "schema": {"type": "boolean"}}
                for name in ("installed", "enabled", "is_job_hook_receiver", "hidden")] + [
                {"name": "grouping", "in": "query", "schema": {"type": "string"}}],
                "responses": _answers(200, "A page of jobs", 403)}},
            "/api/extras/jobs/{id}/": {
                "get": {"summary": "A job", "parameters": [_ID], "responses": _answers(200, "The job", 403, 404)},
                "patch": {"summary": "Change a job (needs change_job)", "parameters": [_ID],
                          "requestBody": _body(JobPatchBody), "responses": _answers(200, "The job", 400, 403, 404)}},
            "/api/extras/jobs/{id}/variables/": {"get": {"summary": "A job's variables", "parameters": [_ID],
                                                         "responses": _answers(200, "The variables", 403, 404)}},
            "/api/extras/jobs/{id}/run/": {"post": {
                "summary": "Run a job (JSON, or multipart/form-data with _commit, _task_queue and files)",
                "parameters": [_ID], "requestBody": _body(JobRunBody),
                "responses": _answers(201, "The pending job result, or the schedule (approval-required jobs "
                                           "always get one)", 400, 403, 404, 405, 501, 503)}},
            "/api/extras/job-results/": {"get": {"summary": "List job results", "parameters": _PAGE + [
                {"name": name, "in": "query", "schema": {"type": "string"}}
                for name in ("status", "job_model", "user", "ordering")],
                "responses": _answers(200, "A page of job results", 403)}},
            "/api/extras/job-results/{id}/": {
                "get": {"summary": "A job result", "parameters": [_ID], "responses": _answers(200, "It", 403, 404)},
                "delete": {"summary": "Delete a finished job result", "parameters": [_ID],
                           "responses": _answers(204, "Deleted", 403, 404)}},
            "/api/extras/job-results/{id}/logs/": {"get": {"summary": "A run's log entries", "parameters": [_ID],
                                                           "responses": _answers(200, "The entries", 403, 404)}},
            "/api/extras/job-results/{id}/stream/": {"get": {
                "summary": "A run's log and status as Server-Sent Events (event: log, event: status)",
                "parameters": [_ID], "responses": _answers(200, "text/event-stream", 403, 404)}},
            "/api/extras/job-logs/": {"get": {"summary": "One run's log entries, paginated", "parameters": _PAGE + [
                {"name": "job_result", "in": "query", "required": True, "schema": {"type": "string", "format": "uuid"}}],
                "responses": _answers(200, "A page of entries", 400, 403, 404)}},
            "/api/extras/scheduled-jobs/": {"get": {
                "summary": "Schedules you requested or may approve (awaiting_approval=true: the approval queue)",
                "parameters": _PAGE + [{"name": "awaiting_approval", "in": "query", "schema": {"type": "boolean"}}],
                "responses": _answers(200, "A page of schedules", 403)}},
            "/api/extras/scheduled-jobs/{id}/": {"get": {"summary": "A schedule", "parameters": [_ID],
                                                         "responses": _answers(200, "The schedule", 403, 404)}},
            "/api/extras/scheduled-jobs/{id}/approve/": {"post": {
                "summary": "Approve (needs approve_job; never your own request); force approves a past one-off",
                "parameters": [_ID, {"name": "force", "in": "query", "schema": {"type": "string"}}],
                "responses": _answers(200, "The approved schedule", 400, 403, 404)}},
            "/api/extras/scheduled-jobs/{id}/deny/": {"post": {
                "summary": "Deny (needs approve_job) or withdraw your own request", "parameters": [_ID],
                "responses": _answers(200, "null: the request is deleted", 400, 403, 404)}},
            "/api/extras/scheduled-jobs/{id}/dry-run/": {"post": {
                "summary": "Run the schedule's input now with commit off, as you (needs run_job)", "parameters": [_ID],
                "responses": _answers(200, "The pending job result", 403, 404, 405)}},
            "/api/extras/job-hooks/": {
                "get": {"summary": "List job hooks", "parameters": _PAGE + [
                    {"name": "enabled", "in": "query", "schema": {"type": "boolean"}}],
                    "responses": _answers(200, "A page of job hooks", 403)},
                "post": {"summary": "Create a job hook (needs change_job on its receiver)",
                         "requestBody": _body(JobHookBody), "responses": _answers(201, "The job hook", 400, 403)}},
            "/api/extras/job-hooks/{id}/": {
                "get": {"summary": "A job hook", "parameters": [_ID], "responses": _answers(200, "It", 403, 404)},
                "patch": {"summary": "Change a job hook (needs change_job on its receiver)", "parameters": [_ID],
                          "requestBody": _body(JobHookBody), "responses": _answers(200, "It", 400, 403, 404)},
                "delete": {"summary": "Delete a job hook (needs change_job on its receiver)", "parameters": [_ID],
                           "responses": _answers(204, "Deleted", 403, 404)}},
        },
    }


def document(_request: Request) -> JSONResponse:
    return JSONResponse(spec())
