def test_collection_and_kubernetes_core_are_importable():
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client

    assert callable(client.get_api_client)
