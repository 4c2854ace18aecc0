/// The OpenAPI 3.1 description served at /openapi.json. A test checks the
/// real answers of every route against these schemas.
enum OpenAPIDocument {
    static let json = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "customer-health",
            "version": "1",
            "description": "Health scores, the at-risk list and portfolio KPIs of the newest complete run under OUTPUT (OUTPUT/latest), and the watch stream over WebSocket at /ws/customer-health (see docs/serve.md). Answers carry X-Customer-Health-Run and X-Customer-Health-As-Of naming the run that answered. With --token-file, every route but /health needs Authorization: Bearer TOKEN."
          },
          "servers": [{"url": "http://127.0.0.1:8012"}],
          "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
              "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                  "error": {
                    "type": "object",
                    "required": ["status", "message"],
                    "properties": {"status": {"type": "integer"}, "message": {"type": "string"}}
                  }
                }
              },
              "ComponentScores": {
                "type": "object",
                "description": "Each component 0-100; null for a component none of whose parts applies to the exports (it is left out of the health score).",
                "required": ["usage", "engagement", "satisfaction", "value_realization"],
                "properties": {
                  "usage": {"type": ["number", "null"]}, "engagement": {"type": ["number", "null"]},
                  "satisfaction": {"type": ["number", "null"]}, "value_realization": {"type": ["number", "null"]}
                }
              },
              "CustomerHealth": {
                "type": "object",
                "description": "One line of scores.jsonl, as the run wrote it.",
                "required": ["customer_id", "as_of", "health_score", "health_status", "component_scores", "key_metrics", "trends", "recommendations"],
                "properties": {
                  "customer_id": {"type": "string"},
                  "as_of": {"type": "string", "format": "date"},
                  "health_score": {"type": "number", "minimum": 0, "maximum": 100},
                  "health_status": {"type": "string", "enum": ["excellent", "good", "warning", "critical", "churn_risk"]},
                  "component_scores": {"$ref": "#/components/schemas/ComponentScores"},
                  "key_metrics": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
                  "trends": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
                  "churn_probability": {"type": ["number", "null"]},
                  "churn_risk": {"type": ["string", "null"], "enum": ["low", "medium", "high", "critical", null]},
                  "reason_codes": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "required": ["feature", "contribution"],
                      "properties": {"feature": {"type": "string"}, "value": {"type": ["number", "null"]}, "contribution": {"type": "number"}}
                    }
                  },
                  "recommendations": {
                    "type": "object",
                    "required": ["risk_factors", "success_recommendations", "intervention_priority"],
                    "properties": {
                      "risk_factors": {"type": "array", "items": {"type": "string"}},
                      "success_recommendations": {"type": "array", "items": {"type": "string"}},
                      "intervention_priority": {"type": "string", "enum": ["critical", "high", "medium", "low"]}
                    }
                  }
                }
              },
              "KPIs": {
                "type": "object",
                "description": "kpis.json, as the run wrote it.",
                "required": ["as_of", "overview", "health_metrics", "financial_metrics", "retention_rates", "churn_rates"],
                "properties": {
                  "as_of": {"type": "string", "format": "date"},
                  "overview": {
                    "type": "object",
                    "required": ["total_customers", "active_customers", "at_risk_customers", "churned_customers_30d"],
                    "properties": {
                      "total_customers": {"type": "integer"}, "active_customers": {"type": "integer"},
                      "at_risk_customers": {"type": "integer"}, "churned_customers_30d": {"type": "integer"},
                      "returned_customers_30d": {"type": "integer"}
                    }
                  },
                  "health_metrics": {
                    "type": "object",
                    "required": ["avg_health_score", "health_distribution"],
                    "properties": {
                      "avg_health_score": {"type": ["number", "null"]},
                      "health_distribution": {"type": "object", "additionalProperties": {"type": "integer"}},
                      "nps": {"type": ["number", "null"]},
                      "nps_mean_score": {"type": ["number", "null"]},
                      "nps_responses": {"type": "integer"}
                    }
                  },
                  "financial_metrics": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
                  "retention_rates": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
                  "churn_rates": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
                  "score_parts": {
                    "type": "object",
                    "description": "Per component, each part of the health score: true when it applied to at least one scored customer.",
                    "additionalProperties": {"type": "object", "additionalProperties": {"type": "boolean"}}
                  },
                  "churn_metrics": {
                    "type": "object",
                    "properties": {
                      "avg_churn_probability": {"type": ["number", "null"]},
                      "expected_churned_customers_in_horizon": {"type": ["number", "null"]},
                      "churn_risk_distribution": {"type": "object", "additionalProperties": {"type": "integer"}}
                    }
                  }
                }
              },
              "AtRiskCustomer": {
                "type": "object",
                "description": "One entry of at-risk.json, as the run wrote it.",
                "required": ["rank", "customer_id", "health_score", "health_status", "intervention_priority", "reason", "risk_factors", "recommendations"],
                "properties": {
                  "rank": {"type": "integer", "minimum": 1},
                  "customer_id": {"type": "string"},
                  "name": {"type": ["string", "null"]},
                  "plan": {"type": ["string", "null"]},
                  "mrr": {"type": ["number", "null"]},
                  "health_score": {"type": "number"},
                  "health_status": {"type": "string", "enum": ["excellent", "good", "warning", "critical", "churn_risk"]},
                  "intervention_priority": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
                  "churn_probability": {"type": ["number", "null"]},
                  "churn_risk": {"type": ["string", "null"]},
                  "reason": {"type": "string"},
                  "risk_factors": {"type": "array", "items": {"type": "string"}},
                  "recommendations": {"type": "array", "items": {"type": "string"}}
                }
              },
              "AtRiskPage": {
                "type": "object",
                "required": ["as_of", "total", "offset", "limit", "count", "customers"],
                "properties": {
                  "as_of": {"type": "string", "format": "date"},
                  "total": {"type": "integer", "description": "Entries that match the priority filter."},
                  "offset": {"type": "integer"},
                  "limit": {"type": "integer"},
                  "count": {"type": "integer", "description": "Entries on this page."},
                  "customers": {"type": "array", "items": {"$ref": "#/components/schemas/AtRiskCustomer"}}
                }
              },
              "Health": {
                "type": "object",
                "required": ["status", "as_of", "run", "published_at", "data_age_seconds", "customers", "at_risk", "reload_error", "watch_error"],
                "properties": {
                  "status": {"type": "string", "enum": ["ok"]},
                  "as_of": {"type": "string", "format": "date"},
                  "run": {"type": "string"},
                  "published_at": {"type": "string", "format": "date-time"},
                  "data_age_seconds": {"type": "number"},
                  "customers": {"type": "integer"},
                  "at_risk": {"type": "integer"},
                  "reload_error": {"type": ["string", "null"], "description": "Why the newest run could not be loaded, while this one is served."},
                  "watch_error": {"type": ["string", "null"], "description": "Why the in-process watch loop (serve --watch) failed, while it waits to start again from its checkpoint."}
                }
              },
              "Unavailable": {
                "type": "object",
                "required": ["status", "error"],
                "properties": {"status": {"type": "string", "enum": ["unavailable"]}, "error": {"type": "string"}}
              }
            },
            "responses": {
              "Unauthorized": {"description": "A bearer token is required and was missing or wrong.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "NoRun": {"description": "No complete run is loaded yet.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
          },
          "security": [{"bearer": []}, {}],
          "paths": {
            "/api/customer-success/health/{customer_id}": {
              "get": {
                "summary": "A customer's health: its line of scores.jsonl.",
                "parameters": [{"name": "customer_id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Matched exactly (after percent-decoding)."}],
                "responses": {
                  "200": {"description": "The customer's scores.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerHealth"}}}},
                  "404": {"description": "No such customer in the run served.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/NoRun"}
                }
              }
            },
            "/api/customer-success/kpis": {
              "get": {
                "summary": "Portfolio KPIs: kpis.json.",
                "responses": {
                  "200": {"description": "The KPIs.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/KPIs"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/NoRun"}
                }
              }
            },
            "/api/customer-success/at-risk": {
              "get": {
                "summary": "The at-risk list (at-risk.json), most urgent first, filtered by priority and paged.",
                "parameters": [
                  {"name": "priority", "in": "query", "schema": {"type": "string", "pattern": "^((critical|high|medium|low)(,(critical|high|medium|low))*)?$"}, "description": "Comma-separated priorities to keep: critical, high, medium, low; empty or absent keeps all."},
                  {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                  {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}
                ],
                "responses": {
                  "200": {"description": "One page of the list.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AtRiskPage"}}}},
                  "400": {"description": "A parameter is not valid.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/NoRun"}
                }
              }
            },
            "/health": {
              "get": {
                "summary": "Liveness and the age of the data served. Needs no token.",
                "security": [],
                "responses": {
                  "200": {"description": "A run is loaded.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                  "503": {"description": "No run is loaded.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Unavailable"}}}}
                }
              }
            },
            "/metrics": {
              "get": {
                "summary": "Prometheus metrics: requests and latencies by route, the run served, WebSocket clients.",
                "responses": {
                  "200": {"description": "Prometheus text format 0.0.4.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              }
            },
            "/openapi.json": {
              "get": {
                "summary": "This document.",
                "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object"}}}}}
              }
            },
            "/ws/customer-health": {
              "get": {
                "summary": "WebSocket upgrade: the watch stream (serve --watch), one JSON object per text message.",
                "description": "Lines as in docs/stream.md (customer_health_update, kpi_update, heartbeat), plus run_loaded when a new run is served, subscribed after a subscribe message, and replay_gap when ?since= asks for updates no longer buffered. Send {\"subscribe\": {\"customer_ids\": [...], \"min_priority\": \"high\"}} to filter customer updates. A client that falls behind by the client buffer is closed with code 1008.",
                "parameters": [
                  {"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0}, "description": "Replay the buffered updates with a greater seq first."},
                  {"name": "customer_ids", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated ids: the first filter."},
                  {"name": "min_priority", "in": "query", "schema": {"type": "string", "enum": ["low", "medium", "high", "critical"]}}
                ],
                "responses": {
                  "101": {"description": "Switching to WebSocket."},
                  "400": {"description": "The upgrade was refused: no token, a parameter not valid, or the stream has its maximum of clients. The WebSocket layer sends no body; the server log and /metrics say which."},
                  "426": {"description": "A plain HTTP request: connect with a WebSocket client.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
              }
            }
          }
        }
        """#
}
