// RuntimeService RPCs of later steps: UNIMPLEMENTED naming the RPC. An RPC
// leaves this list when its own file implements it.
#include "cri/runtime_service.h"

namespace kcr::cri {

#define KCR_NOT_YET(name) \
  grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "kcr: " #name " is not implemented yet")
#define KCR_UNARY(name, req, resp)                                                                   \
  grpc::Status RuntimeService::name(grpc::ServerContext*, const ::runtime::v1::req*, ::runtime::v1::resp*) { \
    return KCR_NOT_YET(name);                                                                        \
  }
#define KCR_STREAM(name, req, resp)                                                \
  grpc::Status RuntimeService::name(grpc::ServerContext*, const ::runtime::v1::req*, \
                                    grpc::ServerWriter<::runtime::v1::resp>*) {      \
    return KCR_NOT_YET(name);                                                      \
  }

KCR_UNARY(RunPodSandbox, RunPodSandboxRequest, RunPodSandboxResponse)
KCR_UNARY(StopPodSandbox, StopPodSandboxRequest, StopPodSandboxResponse)
KCR_UNARY(RemovePodSandbox, RemovePodSandboxRequest, RemovePodSandboxResponse)
KCR_UNARY(PodSandboxStatus, PodSandboxStatusRequest, PodSandboxStatusResponse)
KCR_UNARY(ListPodSandbox, ListPodSandboxRequest, ListPodSandboxResponse)
KCR_STREAM(StreamPodSandboxes, StreamPodSandboxesRequest, StreamPodSandboxesResponse)
KCR_UNARY(CreateContainer, CreateContainerRequest, CreateContainerResponse)
KCR_UNARY(StartContainer, StartContainerRequest, StartContainerResponse)
KCR_UNARY(StopContainer, StopContainerRequest, StopContainerResponse)
KCR_UNARY(RemoveContainer, RemoveContainerRequest, RemoveContainerResponse)
KCR_UNARY(ListContainers, ListContainersRequest, ListContainersResponse)
KCR_STREAM(StreamContainers, StreamContainersRequest, StreamContainersResponse)
KCR_UNARY(ContainerStatus, ContainerStatusRequest, ContainerStatusResponse)
KCR_UNARY(UpdateContainerResources, UpdateContainerResourcesRequest, UpdateContainerResourcesResponse)
KCR_UNARY(ReopenContainerLog, ReopenContainerLogRequest, ReopenContainerLogResponse)
KCR_UNARY(ExecSync, ExecSyncRequest, ExecSyncResponse)
KCR_UNARY(Exec, ExecRequest, ExecResponse)
KCR_UNARY(Attach, AttachRequest, AttachResponse)
KCR_UNARY(PortForward, PortForwardRequest, PortForwardResponse)
KCR_UNARY(ContainerStats, ContainerStatsRequest, ContainerStatsResponse)
KCR_UNARY(ListContainerStats, ListContainerStatsRequest, ListContainerStatsResponse)
KCR_STREAM(StreamContainerStats, StreamContainerStatsRequest, StreamContainerStatsResponse)
KCR_UNARY(PodSandboxStats, PodSandboxStatsRequest, PodSandboxStatsResponse)
KCR_UNARY(ListPodSandboxStats, ListPodSandboxStatsRequest, ListPodSandboxStatsResponse)
KCR_STREAM(StreamPodSandboxStats, StreamPodSandboxStatsRequest, StreamPodSandboxStatsResponse)
KCR_UNARY(CheckpointContainer, CheckpointContainerRequest, CheckpointContainerResponse)
KCR_UNARY(CheckpointPod, CheckpointPodRequest, CheckpointPodResponse)
KCR_UNARY(RestorePod, RestorePodRequest, RestorePodResponse)
KCR_STREAM(GetContainerEvents, GetEventsRequest, ContainerEventResponse)
KCR_UNARY(ListMetricDescriptors, ListMetricDescriptorsRequest, ListMetricDescriptorsResponse)
KCR_UNARY(ListPodSandboxMetrics, ListPodSandboxMetricsRequest, ListPodSandboxMetricsResponse)
KCR_STREAM(StreamPodSandboxMetrics, StreamPodSandboxMetricsRequest, StreamPodSandboxMetricsResponse)
KCR_UNARY(UpdatePodSandboxResources, UpdatePodSandboxResourcesRequest, UpdatePodSandboxResourcesResponse)

}  // namespace kcr::cri
