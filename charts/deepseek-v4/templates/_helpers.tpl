{{/*
Names, labels and the pod template shared by the Deployment and the LeaderWorkerSet.
Optional values (absent when null) are read with `get`/`hasKey`: `helm lint --strict`
renders with missingkey=error.
*/}}

{{- define "deepseek-v4.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "deepseek-v4.fullname" -}}
{{- $name := include "deepseek-v4.name" . -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
The LeaderWorkerSet gets its own name: the LWS controller creates a headless Service named
after it (the DNS behind LWS_LEADER_ADDRESS), which must not collide with the API Service.
Kept short because pods are named <lws>-<group>-<index> and hostnames stop at 63.
*/}}
{{- define "deepseek-v4.lwsName" -}}
{{- printf "%s-lws" (include "deepseek-v4.fullname" . | trunc 40 | trimSuffix "-") -}}
{{- end -}}

{{- define "deepseek-v4.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "deepseek-v4.selectorLabels" -}}
app.kubernetes.io/name: {{ include "deepseek-v4.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "deepseek-v4.labels" -}}
helm.sh/chart: {{ include "deepseek-v4.chart" . }}
{{ include "deepseek-v4.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: deepseek-v4
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "deepseek-v4.multiNode" -}}
{{- if gt (int .Values.parallelism.nodes) 1 }}true{{ end -}}
{{- end -}}

{{- define "deepseek-v4.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "deepseek-v4.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "deepseek-v4.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}
{{- end -}}

{{- define "deepseek-v4.modelCacheClaim" -}}
{{- if eq .Values.modelCache.type "existingClaim" -}}
{{- .Values.modelCache.existingClaim -}}
{{- else -}}
{{- printf "%s-model-cache" (include "deepseek-v4.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The workload the autoscalers scale: apiVersion, kind and name. */}}
{{- define "deepseek-v4.scaleTargetRef" -}}
{{- if include "deepseek-v4.multiNode" . -}}
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
name: {{ include "deepseek-v4.lwsName" . }}
{{- else -}}
apiVersion: apps/v1
kind: Deployment
name: {{ include "deepseek-v4.fullname" . }}
{{- end -}}
{{- end -}}

{{- define "deepseek-v4.autoscaled" -}}
{{- if or .Values.autoscaling.hpa.enabled .Values.autoscaling.keda.enabled }}true{{ end -}}
{{- end -}}

{{/* A non-root uid gets a writable HOME: the image's HOME (/root) is not writable for it. */}}
{{- define "deepseek-v4.nonRoot" -}}
{{- $pod := .Values.podSecurityContext -}}
{{- $ctr := .Values.securityContext -}}
{{- $uid := get $ctr "runAsUser" | default (get $pod "runAsUser") -}}
{{- if or (get $pod "runAsNonRoot") (get $ctr "runAsNonRoot") (and $uid (ne (int $uid) 0)) }}true{{ end -}}
{{- end -}}

{{/* Names of every env var the values set, so the chart's own never duplicate them. */}}
{{- define "deepseek-v4.userEnvNames" -}}
{{- $v := .Values -}}
{{- range concat $v.vllm.env $v.vllm.leader.env $v.vllm.worker.env $v.extraEnv }}
{{ .name }}
{{- end }}
{{- end -}}

{{/* HTTP probe on /health; call with (dict "probe" .Values.probes.x). */}}
{{- define "deepseek-v4.probe" -}}
httpGet:
  path: /health
  port: http
initialDelaySeconds: {{ int .probe.initialDelaySeconds }}
periodSeconds: {{ int .probe.periodSeconds }}
timeoutSeconds: {{ int .probe.timeoutSeconds }}
failureThreshold: {{ int .probe.failureThreshold }}
{{- end -}}

{{/*
Pod labels; call with (dict "root" $ "role" "leader"|"worker").
*/}}
{{- define "deepseek-v4.podLabels" -}}
{{ include "deepseek-v4.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- with .root.Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Pod spec; call with (dict "root" $ "role" "leader"|"worker"). The leader serves the API
(ports, probes); workers run headless ranks and have no HTTP endpoint to probe.
*/}}
{{- define "deepseek-v4.podSpec" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $role := .role -}}
{{- $spec := ternary $v.vllm.leader $v.vllm.worker (eq $role "leader") -}}
{{- $multi := include "deepseek-v4.multiNode" $root -}}
{{- $nonRoot := include "deepseek-v4.nonRoot" $root -}}
{{- $userEnv := splitList "\n" (include "deepseek-v4.userEnvNames" $root) -}}
{{- $offline := include "deepseek-v4.offline" $root -}}
{{- $sc := deepCopy $v.securityContext -}}
{{- $caps := get $sc "capabilities" | default dict -}}
{{- if $v.rdma.enabled -}}
{{- $_ := set $caps "add" (append (get $caps "add" | default list) "IPC_LOCK" | uniq) -}}
{{- $_ := set $sc "capabilities" $caps -}}
{{- end -}}
{{- $extended := dict $v.gpu.resourceName (int $v.parallelism.gpusPerNode) -}}
{{- if $v.rdma.enabled -}}
{{- $extended = merge $extended $v.rdma.resources -}}
{{- end -}}
{{- $requests := merge (deepCopy $v.resources.requests) $extended -}}
{{- $limits := merge (deepCopy $v.resources.limits) $extended -}}
{{- with $v.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
serviceAccountName: {{ include "deepseek-v4.serviceAccountName" $root }}
automountServiceAccountToken: {{ $v.serviceAccount.automountToken }}
# Service links would inject VLLM_PORT-style variables that vLLM reads as its own settings.
enableServiceLinks: false
{{- if $v.hostNetwork }}
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
{{- end }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ int $v.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: vllm
    image: {{ include "deepseek-v4.image" $root | quote }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    {{- with $spec.command }}
    command:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $spec.args }}
    args:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    env:
      {{- if not (has "HF_HOME" $userEnv) }}
      - name: HF_HOME
        value: {{ $v.modelCache.mountPath | quote }}
      {{- end }}
      {{- if and $offline (not (has "HF_HUB_OFFLINE" $userEnv)) }}
      - name: HF_HUB_OFFLINE
        value: "1"
      {{- end }}
      {{- if and $nonRoot (not (has "HOME" $userEnv)) }}
      - name: HOME
        value: /home/vllm
      {{- end }}
      {{- if and $multi (not (has "VLLM_HOST_IP" $userEnv)) }}
      - name: VLLM_HOST_IP
        valueFrom:
          fieldRef:
            fieldPath: status.podIP
      {{- end }}
      {{- with $v.secrets.hfToken }}
      {{- if .enabled }}
      - name: HF_TOKEN
        valueFrom:
          secretKeyRef:
            name: {{ .name }}
            key: {{ .key }}
            optional: {{ .optional }}
      {{- end }}
      {{- end }}
      {{- with $v.secrets.apiKey }}
      {{- if .enabled }}
      - name: VLLM_API_KEY
        valueFrom:
          secretKeyRef:
            name: {{ .name }}
            key: {{ .key }}
            optional: {{ .optional }}
      {{- end }}
      {{- end }}
      {{- with concat $v.vllm.env $spec.env $v.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- if eq $role "leader" }}
    ports:
      - name: http
        containerPort: {{ int $v.vllm.port }}
        protocol: TCP
    startupProbe:
      {{- include "deepseek-v4.probe" (dict "probe" $v.probes.startup) | nindent 6 }}
    readinessProbe:
      {{- include "deepseek-v4.probe" (dict "probe" $v.probes.readiness) | nindent 6 }}
    livenessProbe:
      {{- include "deepseek-v4.probe" (dict "probe" $v.probes.liveness) | nindent 6 }}
    {{- end }}
    resources:
      requests:
        {{- toYaml $requests | nindent 8 }}
      limits:
        {{- toYaml $limits | nindent 8 }}
    securityContext:
      {{- toYaml (omit $sc "capabilities") | nindent 6 }}
      {{- if or (get $caps "add") (get $caps "drop") }}
      capabilities:
        {{- range $set := list "add" "drop" }}
        {{- with get $caps $set }}
        {{ $set }}:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        {{- end }}
      {{- end }}
    volumeMounts:
      - name: dshm
        mountPath: /dev/shm
      - name: model-cache
        mountPath: {{ $v.modelCache.mountPath }}
      {{- if $nonRoot }}
      - name: home
        mountPath: /home/vllm
      {{- end }}
      {{- if $v.securityContext.readOnlyRootFilesystem }}
      - name: tmp
        mountPath: /tmp
      {{- end }}
      {{- with $v.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  # NCCL and vLLM's workers exchange tensors through /dev/shm; the runtime default is 64 MiB.
  - name: dshm
    emptyDir:
      medium: Memory
      sizeLimit: {{ $v.shm.sizeLimit }}
  {{- $cache := $v.modelCache }}
  {{- if or (eq $cache.type "pvc") (eq $cache.type "existingClaim") }}
  - name: model-cache
    persistentVolumeClaim:
      claimName: {{ include "deepseek-v4.modelCacheClaim" $root }}
  {{- else if eq $cache.type "hostPath" }}
  - name: model-cache
    hostPath:
      path: {{ $cache.hostPath }}
      type: {{ $cache.hostPathType }}
  {{- else if eq $cache.type "emptyDir" }}
  - name: model-cache
    emptyDir:
      sizeLimit: {{ $cache.size }}
  {{- end }}
  {{- if $nonRoot }}
  - name: home
    emptyDir: {}
  {{- end }}
  {{- if $v.securityContext.readOnlyRootFilesystem }}
  - name: tmp
    emptyDir: {}
  {{- end }}
  {{- with $v.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
