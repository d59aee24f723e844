{{/*
Consistency guards: the rules values.schema.json cannot express. The same rules live in
deploy_kit/renderer/helm_values.py (consistency_problems); keep both in step. Every problem is
collected, then the render fails once listing all of them with what to change.
*/}}

{{/* "true" when the pods must not download: model.offline, or HF_HUB_OFFLINE set in env. */}}
{{- define "deepseek-v4.offline" -}}
{{- $v := .Values -}}
{{- $on := $v.model.offline -}}
{{- range concat $v.vllm.env $v.vllm.leader.env $v.vllm.worker.env -}}
{{- if and (eq .name "HF_HUB_OFFLINE") (not (has (toString .value) (list "" "0"))) -}}
{{- $on = true -}}
{{- end -}}
{{- end -}}
{{- if $on }}true{{ end -}}
{{- end -}}

{{/*
Problems of one role's argv against `parallelism`, one per line; call with
(dict "root" $ "role" "leader"|"worker" "spec" .Values.vllm.<role>). The argv is joined with
spaces so the list form and the `/bin/sh -c "..."` form are read the same way.
*/}}
{{- define "deepseek-v4.argvProblems" -}}
{{- $p := .root.Values.parallelism -}}
{{- $role := .role -}}
{{- $argv := join " " (concat .spec.command .spec.args) -}}
{{- $flags := list (list "tensor" "--tensor-parallel-size" "-tp") (list "pipeline" "--pipeline-parallel-size" "-pp") (list "data" "--data-parallel-size" "-dp") -}}
{{- range $flags -}}
{{- $field := index . 0 -}}
{{- $flag := index . 1 -}}
{{- $want := int (get $p $field) -}}
{{- $found := regexFind (printf `(^|\s)(%s|%s)(=|\s+)[0-9]+` $flag (index . 2)) $argv -}}
{{- if $found -}}
{{- $got := regexFind `[0-9]+$` $found | int -}}
{{- if ne $got $want }}
vllm.{{ $role }} argv has {{ $flag }} {{ $got }} but parallelism.{{ $field }} is {{ $want }}: make them agree (re-run deploy-kit render)
{{- end -}}
{{- else if gt $want 1 }}
vllm.{{ $role }} argv lacks {{ $flag }} {{ $want }} (parallelism.{{ $field }} is {{ $want }}): add it or lower parallelism.{{ $field }}
{{- end -}}
{{- end -}}
{{- $ep := regexMatch `(^|\s)(--enable-expert-parallel|-ep)(\s|$)` $argv -}}
{{- if ne $ep $p.expert }}
vllm.{{ $role }} argv {{ ternary "has" "lacks" $ep }} --enable-expert-parallel but parallelism.expert is {{ $p.expert }}: make them agree
{{- end -}}
{{- $local := regexFind `(^|\s)(--data-parallel-size-local|-dpl)(=|\s+)[0-9]+` $argv -}}
{{- if $local -}}
{{- $n := regexFind `[0-9]+$` $local | int -}}
{{- $ranks := mul $n (int $p.tensor) (int $p.pipeline) -}}
{{- if ne (int $ranks) (int $p.gpusPerNode) }}
vllm.{{ $role }} argv --data-parallel-size-local {{ $n }} x tensor {{ int $p.tensor }} x pipeline {{ int $p.pipeline }} uses {{ $ranks }} GPUs per node but parallelism.gpusPerNode is {{ int $p.gpusPerNode }}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "deepseek-v4.validate" -}}
{{- $v := .Values -}}
{{- $p := $v.parallelism -}}
{{- $errs := list -}}
{{- $nodes := int $p.nodes -}}
{{- $gpn := int $p.gpusPerNode -}}
{{- $world := mul (int $p.tensor) (int $p.pipeline) (int $p.data) -}}
{{- $requested := mul $nodes $gpn -}}
{{- if ne (int $world) (int $requested) -}}
{{- $hint := printf "set parallelism.gpusPerNode to %d" (int $world) -}}
{{- if gt $nodes 1 -}}
{{- $hint = printf "set parallelism.nodes x gpusPerNode to %d" (int $world) -}}
{{- end -}}
{{- $errs = append $errs (printf "parallelism: tensor %d x pipeline %d x data %d = %d GPUs per engine, but nodes %d x gpusPerNode %d = %d GPUs are requested: %s, or lower tensor/pipeline/data to %d GPUs (re-run deploy-kit render)" (int $p.tensor) (int $p.pipeline) (int $p.data) (int $world) $nodes $gpn (int $requested) $hint (int $requested)) -}}
{{- end -}}
{{- $leader := $v.vllm.leader -}}
{{- if not (or $leader.command $leader.args) -}}
{{- $errs = append $errs "vllm.leader needs a command or args (the planner's argv)" -}}
{{- end -}}
{{- $errs = concat $errs (include "deepseek-v4.argvProblems" (dict "root" . "role" "leader" "spec" $leader) | splitList "\n" | compact) -}}
{{- if gt $nodes 1 -}}
{{- $worker := $v.vllm.worker -}}
{{- if not (or $worker.command $worker.args) -}}
{{- $errs = append $errs (printf "parallelism.nodes is %d but vllm.worker has no command/args: set the worker argv (vLLM ranks on nodes 1..%d)" $nodes (sub $nodes 1)) -}}
{{- else -}}
{{- $errs = concat $errs (include "deepseek-v4.argvProblems" (dict "root" . "role" "worker" "spec" $worker) | splitList "\n" | compact) -}}
{{- end -}}
{{- end -}}
{{- if or (eq (toString $v.image.tag) "latest") (not (or $v.image.tag $v.image.digest)) -}}
{{- $errs = append $errs "image: pin image.tag to a release (e.g. v0.33.0, never latest) or set image.digest" -}}
{{- end -}}
{{- if not (hasPrefix (printf "%s.com/" $v.gpu.vendor) $v.gpu.resourceName) -}}
{{- $errs = append $errs (printf "gpu.resourceName %s is not a %s resource: use %s.com/gpu or change gpu.vendor" $v.gpu.resourceName $v.gpu.vendor $v.gpu.vendor) -}}
{{- end -}}
{{- range $kind := list "requests" "limits" -}}
{{- if hasKey (get $v.resources $kind) $v.gpu.resourceName -}}
{{- $errs = append $errs (printf "resources.%s sets %s: remove it, the GPU count is parallelism.gpusPerNode" $kind $v.gpu.resourceName) -}}
{{- end -}}
{{- end -}}
{{- range concat $v.vllm.env $v.vllm.leader.env $v.vllm.worker.env $v.extraEnv -}}
{{- if and (has .name (list "HF_TOKEN" "HUGGING_FACE_HUB_TOKEN" "VLLM_API_KEY")) (hasKey . "value") -}}
{{- $errs = append $errs (printf "%s is set inline: remove it and reference a Secret (secrets.hfToken / secrets.apiKey)" .name) -}}
{{- end -}}
{{- end -}}
{{- $cache := $v.modelCache -}}
{{- if and (include "deepseek-v4.offline" .) (eq $cache.type "emptyDir") -}}
{{- $errs = append $errs "model.offline (HF_HUB_OFFLINE=1) needs the weights in a persistent model cache, but modelCache.type is emptyDir: use pvc, existingClaim, hostPath or claimTemplate holding the weights, or set model.offline=false" -}}
{{- end -}}
{{- if and (eq $cache.type "existingClaim") (not $cache.existingClaim) -}}
{{- $errs = append $errs "modelCache.type is existingClaim: set modelCache.existingClaim to the claim name" -}}
{{- end -}}
{{- if and (eq $cache.type "hostPath") (not (hasPrefix "/" $cache.hostPath)) -}}
{{- $errs = append $errs "modelCache.type is hostPath: set modelCache.hostPath to an absolute node path" -}}
{{- end -}}
{{- if and (include "deepseek-v4.nonRoot" .) (hasPrefix "/root/" (printf "%s/" $cache.mountPath)) -}}
{{- $errs = append $errs (printf "modelCache.mountPath %s is under /root, which a non-root uid cannot enter: set modelCache.mountPath elsewhere, e.g. /home/vllm/.cache/huggingface (the default)" $cache.mountPath) -}}
{{- end -}}
{{- if and (eq $cache.type "claimTemplate") (eq $nodes 1) -}}
{{- $errs = append $errs "modelCache.type claimTemplate is per LeaderWorkerSet pod: use it with parallelism.nodes > 1, or type pvc for one node" -}}
{{- end -}}
{{- $pods := mul $nodes (int $v.replicas) -}}
{{- if and (eq $cache.type "pvc") (gt (int $pods) 1) (not (has "ReadWriteMany" $cache.accessModes)) -}}
{{- $errs = append $errs (printf "modelCache: %d pods on different nodes would share one ReadWriteOnce claim: set modelCache.accessModes to [ReadWriteMany], or use type claimTemplate (LWS), hostPath or existingClaim" (int $pods)) -}}
{{- end -}}
{{- $hpa := $v.autoscaling.hpa -}}
{{- $keda := $v.autoscaling.keda -}}
{{- if and $hpa.enabled $keda.enabled -}}
{{- $errs = append $errs "autoscaling: enable hpa or keda, not both (KEDA creates its own HPA)" -}}
{{- end -}}
{{- if and $keda.enabled (not $keda.serverAddress) -}}
{{- $errs = append $errs "autoscaling.keda.serverAddress is required (the Prometheus URL, e.g. http://prometheus-operated.monitoring:9090)" -}}
{{- end -}}
{{- if and $hpa.enabled (gt (int $hpa.minReplicas) (int $hpa.maxReplicas)) -}}
{{- $errs = append $errs "autoscaling.hpa.minReplicas exceeds maxReplicas" -}}
{{- end -}}
{{- if and $keda.enabled (gt (int $keda.minReplicas) (int $keda.maxReplicas)) -}}
{{- $errs = append $errs "autoscaling.keda.minReplicas exceeds maxReplicas" -}}
{{- end -}}
{{- if and $v.monitoring.serviceMonitor.enabled $v.monitoring.podMonitor.enabled -}}
{{- $errs = append $errs "monitoring: enable serviceMonitor or podMonitor, not both (the leader would be scraped twice)" -}}
{{- end -}}
{{- $pdb := $v.podDisruptionBudget -}}
{{- if and $pdb.enabled (eq (hasKey $pdb "maxUnavailable") (hasKey $pdb "minAvailable")) -}}
{{- $errs = append $errs "podDisruptionBudget: set exactly one of maxUnavailable and minAvailable (set the other to null)" -}}
{{- end -}}
{{- if $errs -}}
{{- fail (printf "invalid values for chart %s:\n  - %s" .Chart.Name (join "\n  - " $errs)) -}}
{{- end -}}
{{- if gt $nodes 1 -}}
{{- $api := or (.Capabilities.APIVersions.Has "leaderworkerset.x-k8s.io/v1") (.Capabilities.APIVersions.Has "leaderworkerset.x-k8s.io/v1/LeaderWorkerSet") -}}
{{- if not (or $api $v.lws.skipApiCheck) -}}
{{- fail (printf "parallelism.nodes is %d, so each engine is a LeaderWorkerSet (leaderworkerset.x-k8s.io/v1), which this cluster does not serve. Install LeaderWorkerSet (https://lws.sigs.k8s.io/docs/installation/); to render without a cluster pass `--api-versions leaderworkerset.x-k8s.io/v1` to `helm template` (or set lws.skipApiCheck=true)." $nodes) -}}
{{- end -}}
{{- end -}}
{{- end -}}
