"""Checks examples/gateway/envoy.yaml against Envoy's v3 API without an Envoy binary: every
field name, type and "@type" must parse into the API's protobuf messages (xds-protos, generated
from envoyproxy/data-plane-api), and every message must pass the API's own validation rules
(protoc-gen-validate), the same rules Envoy applies when it loads a config.

    python validate_envoy.py examples/gateway/envoy.yaml      (in the venv of envoy-requirements.txt)
"""

import sys

import yaml
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_authn_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import json_format
from protoc_gen_validate.validator import ValidationFailed, validate_all

TYPED = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        hcm_pb2.HttpConnectionManager,
        header_mutation_pb2.HeaderMutation,
        jwt_authn_pb2.JwtAuthentication,
        rbac_pb2.RBAC,
        router_pb2.Router,
    )
}


def unpack(any_msg, where):
    name = any_msg.type_url.rsplit("/", 1)[-1]
    if name not in TYPED:
        raise SystemExit(f"{where}: no check for {name}: add it to TYPED in validate_envoy.py")
    msg = TYPED[name]()
    any_msg.Unpack(msg)
    return msg


def check(msg, where):
    try:
        validate_all(msg)  # does not look inside Any: each typed_config is checked on its own
    except ValidationFailed as error:
        raise SystemExit(f"{where}: {error}")


def main(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    bootstrap = bootstrap_pb2.Bootstrap()
    try:
        json_format.ParseDict(doc, bootstrap)
    except json_format.ParseError as error:
        raise SystemExit(f"{path}: {error}")
    check(bootstrap, "bootstrap")
    filters = 0
    for listener in bootstrap.static_resources.listeners:
        for chain in listener.filter_chains:
            for net_filter in chain.filters:
                hcm = unpack(net_filter.typed_config, f"{listener.name}/{net_filter.name}")
                check(hcm, f"{listener.name}/{net_filter.name}")
                for http_filter in hcm.http_filters:
                    where = f"{listener.name}/{http_filter.name}"
                    check(unpack(http_filter.typed_config, where), where)
                    filters += 1
    # What the example exists to show.
    from envoy.config.core.v3 import protocol_pb2
    assert (hcm.common_http_protocol_options.headers_with_underscores_action
            == protocol_pb2.HttpProtocolOptions.REJECT_REQUEST), "underscored headers must be refused"
    jwt = [
        unpack(f.typed_config, f.name)
        for f in hcm.http_filters
        if f.name == "envoy.filters.http.jwt_authn"
    ]
    assert jwt and "tessera" in jwt[0].providers, "no jwt_authn provider 'tessera'"
    provider = jwt[0].providers["tessera"]
    assert provider.remote_jwks.http_uri.uri.endswith("/.well-known/jwks.json"), provider
    assert provider.remote_jwks.cache_duration.seconds < 3600, "cache_duration must stay below key_prepublish"
    assert provider.forward, "forward: true"
    claims = {c.claim_name: c.header_name for c in provider.claim_to_headers}
    assert claims == {"sub": "x-auth-subject", "role": "x-auth-role", "username": "x-auth-username"}, claims
    clusters = {c.name for c in bootstrap.static_resources.clusters}
    assert provider.remote_jwks.http_uri.cluster in clusters, "the JWKS cluster is not defined"
    print(f"envoy.yaml: {len(bootstrap.static_resources.listeners)} listener, {filters} HTTP filters, "
          f"{len(clusters)} clusters: valid Envoy v3")


if __name__ == "__main__":
    main(sys.argv[1])
