// Command kindcheck runs kind's own config code on a cluster config, without a container engine.
//
// It does what `kind create cluster --config FILE` does before it first talks to docker, with the
// code of the pinned kind release, not a re-implementation:
//
//  1. encoding.Load: strict YAML decoding into the v1alpha4 types (unknown fields are errors),
//     defaulting and conversion to kind's internal config;
//  2. (*config.Cluster).Validate: kind's validation (name, networking, node roles, images, ports);
//  3. for each control-plane node, the kubeadm config kind would write to /kind/kubeadm.conf:
//     kubeadm.Config for the node's Kubernetes version (kubeadm v1beta4 from 1.36 on), then the
//     cluster's and the node's kubeadmConfigPatches through patch.KubeYAML, as kind's config
//     action does. That is where a versioned map-style extraArgs patch is silently dropped, so the
//     apiServer extraArgs and extraVolumes printed here are the ones kubeadm will really get.
//
// Those packages are internal to sigs.k8s.io/kind (pkg/internal/..., pkg/cluster/internal/...).
// In module mode Go allows an internal import when the importer's import path is rooted at the
// parent of the internal directory (golang/go#23970), which is why this module's path is
// sigs.k8s.io/kind/pkg/cluster/auditbench-kindcheck (gopls reaches x/tools internals the same
// way). It is never published; the name only unlocks kind's own code, pinned in go.mod. The
// alternative, the public v1alpha4 types with a strict decoder and a copy of kind's checks,
// could drift from kind and cannot show what kind's patch code does to extraArgs at all.
//
// Usage: kindcheck [-kubernetes-version vX.Y.Z] [-kubeadm-dir DIR] CONFIG
// Prints a JSON summary on stdout. Exit 1: kind rejects the config; exit 2: usage error.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"sigs.k8s.io/kind/pkg/cluster/internal/kubeadm"
	"sigs.k8s.io/kind/pkg/cluster/internal/providers/common"
	"sigs.k8s.io/kind/pkg/internal/apis/config"
	"sigs.k8s.io/kind/pkg/internal/apis/config/encoding"
	"sigs.k8s.io/kind/pkg/internal/patch"
)

// placeholderNodeIP stands in for the address docker assigns at creation; it only fills
// node-ip / advertiseAddress in the rendered kubeadm config, never an audit setting.
const placeholderNodeIP = "172.18.0.2"

var imageVersion = regexp.MustCompile(`:(v\d+\.\d+\.\d+[^@]*)(@|$)`)

type arg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type nodeReport struct {
	Name                 string           `json:"name"`
	Role                 string           `json:"role"`
	Image                string           `json:"image"`
	KubernetesVersion    string           `json:"kubernetes_version"`
	KubeadmAPIVersion    string           `json:"kubeadm_api_version"`
	APIServerExtraArgs   []arg            `json:"apiserver_extra_args"`
	APIServerExtraVolume []map[string]any `json:"apiserver_extra_volumes"`
	ExtraMounts          []map[string]any `json:"extra_mounts"`
	KubeadmConfigFile    string           `json:"kubeadm_config_file,omitempty"`
}

type report struct {
	OK          bool         `json:"ok"`
	KindVersion string       `json:"kind_version"`
	Config      string       `json:"config"`
	ClusterName string       `json:"cluster_name"`
	Nodes       []nodeReport `json:"control_plane_nodes"`
}

func main() {
	fs := flag.NewFlagSet("kindcheck", flag.ContinueOnError)
	k8sVersion := fs.String("kubernetes-version", "", "Kubernetes version of the node image (default: read from each node's image tag)")
	kubeadmDir := fs.String("kubeadm-dir", "", "write each control-plane node's rendered kubeadm config here")
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(os.Args[1:]); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: kindcheck [-kubernetes-version vX.Y.Z] [-kubeadm-dir DIR] CONFIG")
		os.Exit(2)
	}
	path := fs.Arg(0)
	rep, err := check(path, *k8sVersion, *kubeadmDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kindcheck: %s: %v\n", path, err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

func kindVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "sigs.k8s.io/kind" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func check(path, k8sVersion, kubeadmDir string) (*report, error) {
	cfg, err := encoding.Load(path)
	if err != nil {
		return nil, err
	}
	// kind applies defaults again right before validating (create.fixupOptions).
	config.SetDefaultsCluster(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	rep := &report{OK: true, KindVersion: kindVersion(), Config: path, ClusterName: cfg.Name}
	namer := common.MakeNodeNamer(cfg.Name)
	for i := range cfg.Nodes {
		n := &cfg.Nodes[i]
		name := namer(string(n.Role))
		if n.Role != config.ControlPlaneRole {
			continue
		}
		version := k8sVersion
		if version == "" {
			m := imageVersion.FindStringSubmatch(n.Image)
			if m == nil {
				return nil, fmt.Errorf("node %d: cannot read the Kubernetes version from image %q; pass -kubernetes-version", i, n.Image)
			}
			version = m[1]
		}
		rendered, err := kubeadmConfig(cfg, n, name, version)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", name, err)
		}
		nr := nodeReport{Name: name, Role: string(n.Role), Image: n.Image, KubernetesVersion: version}
		if err := summarize(rendered, &nr); err != nil {
			return nil, fmt.Errorf("node %s: rendered kubeadm config: %w", name, err)
		}
		for _, m := range n.ExtraMounts {
			nr.ExtraMounts = append(nr.ExtraMounts, map[string]any{
				"hostPath": m.HostPath, "containerPath": m.ContainerPath, "readOnly": m.Readonly,
			})
		}
		if kubeadmDir != "" {
			if err := os.MkdirAll(kubeadmDir, 0o755); err != nil {
				return nil, err
			}
			out := filepath.Join(kubeadmDir, name+".kubeadm.conf")
			if err := os.WriteFile(out, []byte(rendered), 0o644); err != nil {
				return nil, err
			}
			nr.KubeadmConfigFile = out
		}
		rep.Nodes = append(rep.Nodes, nr)
	}
	return rep, nil
}

// kubeadmConfig mirrors getKubeadmConfig in kind's pkg/cluster/internal/create/actions/config,
// with the values docker would supply (node IP, provider) filled with fixed stand-ins.
func kubeadmConfig(cfg *config.Cluster, n *config.Node, name, version string) (string, error) {
	data := kubeadm.ConfigData{
		NodeProvider:         "docker",
		ClusterName:          cfg.Name,
		ControlPlaneEndpoint: fmt.Sprintf("%s-control-plane:%d", cfg.Name, common.APIServerInternalPort),
		APIBindPort:          common.APIServerInternalPort,
		APIServerAddress:     cfg.Networking.APIServerAddress,
		Token:                kubeadm.Token,
		PodSubnet:            cfg.Networking.PodSubnet,
		KubeProxyMode:        string(cfg.Networking.KubeProxyMode),
		ServiceSubnet:        cfg.Networking.ServiceSubnet,
		ControlPlane:         true,
		IPFamily:             cfg.Networking.IPFamily,
		FeatureGates:         cfg.FeatureGates,
		RuntimeConfig:        cfg.RuntimeConfig,
		KubernetesVersion:    version,
		NodeName:             name,
		NodeAddress:          placeholderNodeIP,
	}
	cf, err := kubeadm.Config(data)
	if err != nil {
		return "", err
	}
	patched, err := patch.KubeYAML(cf, cfg.KubeadmConfigPatches, cfg.KubeadmConfigPatchesJSON6902)
	if err != nil {
		return "", err
	}
	if len(n.KubeadmConfigPatches) > 0 || len(n.KubeadmConfigPatchesJSON6902) > 0 {
		patched, err = patch.KubeYAML(patched, n.KubeadmConfigPatches, n.KubeadmConfigPatchesJSON6902)
		if err != nil {
			return "", err
		}
	}
	return strings.ReplaceAll(patched, "metadata:\n  name: config\n", ""), nil
}

// summarize reads apiServer extraArgs (list form in v1beta4, map form before) and extraVolumes
// from the ClusterConfiguration document.
func summarize(rendered string, nr *nodeReport) error {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(rendered)))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if doc["kind"] != "ClusterConfiguration" {
			continue
		}
		nr.KubeadmAPIVersion, _ = doc["apiVersion"].(string)
		api, _ := doc["apiServer"].(map[string]any)
		switch args := api["extraArgs"].(type) {
		case []any:
			for _, item := range args {
				m, _ := item.(map[string]any)
				nr.APIServerExtraArgs = append(nr.APIServerExtraArgs, arg{fmt.Sprint(m["name"]), fmt.Sprint(m["value"])})
			}
		case map[string]any:
			for k, v := range args {
				nr.APIServerExtraArgs = append(nr.APIServerExtraArgs, arg{k, fmt.Sprint(v)})
			}
		}
		if vols, ok := api["extraVolumes"].([]any); ok {
			for _, v := range vols {
				if m, ok := v.(map[string]any); ok {
					nr.APIServerExtraVolume = append(nr.APIServerExtraVolume, m)
				}
			}
		}
		return nil
	}
	return errors.New("no ClusterConfiguration document")
}
