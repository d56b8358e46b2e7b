"""The control plane: the office (CA, roll, routes, configuration push, events), the class CA's
certificates, the mesh policy derived from the resources, authorization, the office's protocol."""
